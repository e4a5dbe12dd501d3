#ifndef GEOINFER_JPEGTIFF_H
#define GEOINFER_JPEGTIFF_H
/* Reduced-resolution reads of JPEG-compressed TIFFs straight through libjpeg (DCT scaling), one
   strip or tile at a time, without GDAL's implicit overview, which opens an in-memory JPEG dataset
   for every block it decodes. The pixels are those of that overview: libjpeg's scaled decode of each
   block, YCbCr converted to RGB. Only the layouts handled here are opened: the first image of a
   TIFF, JPEG-compressed (not old-style), 8 bits per sample, 3 samples stored contiguously as YCbCr
   or RGB, or grey. Everything else is left to GDAL: every block that does not decode cleanly (a
   libjpeg warning fails the read as an error does), progressive blocks, blocks of more than 100
   scans, and blocks whose whole-image buffers would take more than 64 MiB. */

typedef struct geoinfer_jpegtiff geoinfer_jpegtiff;

/* Opens `path`; NULL when the file is not such a TIFF (or cannot be read). Close with
   geoinfer_jpegtiff_close. */
geoinfer_jpegtiff *geoinfer_jpegtiff_open(const char *path);
void geoinfer_jpegtiff_close(geoinfer_jpegtiff *t);

/* The image's size and samples per pixel. */
void geoinfer_jpegtiff_shape(const geoinfer_jpegtiff *t, int *width, int *height, int *samples);

/* Decodes the pixels [x, x + w) x [y, y + h) of the image reduced by `k` (1, 2, 4 or 8: libjpeg's
   scaled sizes, the full size divided and rounded up), samples `bands` (1-based, `nbands` of them)
   into `out`, band-sequential: rows `row_stride` bytes apart, bands `band_stride` bytes apart.
   Returns 0, or -1 with a message in `err` when the request is outside the reduced image, a block
   is not where the file says, or libjpeg reports anything (an error or a warning) about it. */
int geoinfer_jpegtiff_read(geoinfer_jpegtiff *t, int k, int x, int y, int w, int h, const int *bands, int nbands,
                           unsigned char *out, long row_stride, long band_stride, char *err, int err_len);
#endif
