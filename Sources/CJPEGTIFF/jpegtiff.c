#include "jpegtiff.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <tiffio.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <tmmintrin.h>
#define GEOINFER_SSSE3 1
#endif

struct geoinfer_jpegtiff {
    TIFF *tiff;
    uint32_t width, height, block_w, block_h; /* block_w == width for strips */
    int tiled, samples, ycbcr;
    uint64_t file_size;
    unsigned char *tables;
    uint32_t tables_len;
    unsigned char *raw;  /* one block's compressed bytes, reused */
    size_t raw_cap;
    unsigned char *row;  /* one decoded scanline, reused */
    size_t row_cap;
    int ssse3;           /* whether the processor has SSSE3 (byte shuffles) */
};

/* libtiff's messages about this handle stay here (GDAL's handlers are process-wide). */
static int quiet_tiff(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)user; (void)module; (void)fmt; (void)ap;
    return 1;
}

geoinfer_jpegtiff *geoinfer_jpegtiff_open(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(opts, quiet_tiff, NULL);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, quiet_tiff, NULL);
    TIFF *tif = TIFFOpenExt(path, "rm", opts);
    TIFFOpenOptionsFree(opts);
    if (!tif) return NULL;
    uint16_t compression = 0, bits = 0, spp = 0, planar = 0, photometric = 0, format = SAMPLEFORMAT_UINT;
    uint32_t w = 0, h = 0, bw = 0, bh = 0;
    int ok = TIFFGetField(tif, TIFFTAG_COMPRESSION, &compression) && compression == COMPRESSION_JPEG
        && TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits) && bits == 8
        && TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp) && (spp == 1 || spp == 3)
        && TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar) && (planar == PLANARCONFIG_CONTIG || spp == 1)
        && TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric)
        && ((spp == 3 && (photometric == PHOTOMETRIC_YCBCR || photometric == PHOTOMETRIC_RGB))
            || (spp == 1 && photometric == PHOTOMETRIC_MINISBLACK))
        && TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) && TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h) && w > 0 && h > 0
        && w <= INT32_MAX && h <= INT32_MAX;
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
    ok = ok && format == SAMPLEFORMAT_UINT;
    int tiled = ok && TIFFIsTiled(tif);
    if (ok && tiled) {
        ok = TIFFGetField(tif, TIFFTAG_TILEWIDTH, &bw) && TIFFGetField(tif, TIFFTAG_TILELENGTH, &bh) && bw > 0 && bh > 0;
    } else if (ok) {
        uint32_t rps = 0;
        ok = TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps) && rps > 0;
        bw = w;
        bh = rps > h ? h : rps;
    }
    /* Blocks of at most 64 Mi pixels: a hostile header cannot ask for a huge scanline or block. */
    ok = ok && bw <= 65536 && (uint64_t)bw * bh <= (64u << 20);
    if (!ok) {
        TIFFClose(tif);
        return NULL;
    }
    geoinfer_jpegtiff *t = calloc(1, sizeof *t);
    if (!t) {
        TIFFClose(tif);
        return NULL;
    }
    t->tiff = tif;
    t->width = w;
    t->height = h;
    t->block_w = bw;
    t->block_h = bh;
    t->tiled = tiled;
    t->samples = spp;
    t->ycbcr = photometric == PHOTOMETRIC_YCBCR;
    t->file_size = (uint64_t)st.st_size;
#ifdef GEOINFER_SSSE3
    unsigned int a = 0, b = 0, c = 0, d = 0;
    t->ssse3 = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) != 0;
#endif
    uint32_t len = 0;
    void *tables = NULL;
    if (TIFFGetField(tif, TIFFTAG_JPEGTABLES, &len, &tables) && tables && len > 0 && len < (1u << 20)) {
        t->tables = malloc(len);
        if (!t->tables) {
            geoinfer_jpegtiff_close(t);
            return NULL;
        }
        memcpy(t->tables, tables, len);
        t->tables_len = len;
    }
    return t;
}

void geoinfer_jpegtiff_close(geoinfer_jpegtiff *t) {
    if (!t) return;
    if (t->tiff) TIFFClose(t->tiff);
    free(t->tables);
    free(t->raw);
    free(t->row);
    free(t);
}

void geoinfer_jpegtiff_shape(const geoinfer_jpegtiff *t, int *width, int *height, int *samples) {
    *width = (int)t->width;
    *height = (int)t->height;
    *samples = t->samples;
}

/* The most scans a block may have (libtiff's own limit): a block that repeats a cheap scan
   thousands of times would otherwise cost seconds of decoding for a few kilobytes of file. */
#define MAX_SCANS 100
/* The most memory libjpeg may take for a block's whole-image buffers (a block in several scans); a
   block that needs more is left to GDAL. */
#define MAX_BUFFER_BYTES (64L << 20)

struct decode_error {
    struct jpeg_error_mgr pub;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    const char *reason; /* ours, when it is not libjpeg's message */
};

static void on_error(j_common_ptr cinfo) {
    struct decode_error *e = (struct decode_error *)cinfo->err;
    longjmp(e->jump, 1);
}

/* A warning (corrupt data that libjpeg would patch over) fails the block, as an error does. */
static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0) longjmp(((struct decode_error *)cinfo->err)->jump, 1);
}

static void on_progress(j_common_ptr cinfo) {
    struct decode_error *e = (struct decode_error *)cinfo->err;
    if (((j_decompress_ptr)cinfo)->input_scan_number > MAX_SCANS) {
        e->reason = "a block has more than 100 scans";
        longjmp(e->jump, 1);
    }
}

static int fail(char *err, int err_len, const char *message) {
    if (err && err_len > 0) snprintf(err, (size_t)err_len, "%s", message);
    return -1;
}

static uint32_t ceil_div(uint32_t a, uint32_t k) { return (a + k - 1) / k; }

/* For each output plane p and each 16-byte third of 16 interleaved pixels, the byte of that third
   each of the plane's 16 bytes comes from, or -128 (a zero byte) where it comes from another third. */
typedef struct {
    signed char lanes[3][3][16];
} shuffle3;

static void shuffle3_make(shuffle3 *s, const int *bands) {
    for (int p = 0; p < 3; p++)
        for (int part = 0; part < 3; part++)
            for (int j = 0; j < 16; j++) {
                int i = 3 * j + (bands[p] - 1) - 16 * part;
                s->lanes[p][part][j] = i >= 0 && i < 16 ? (signed char)i : (signed char)-128;
            }
}

#ifdef GEOINFER_SSSE3
/* copy_planes3 16 pixels at a time, each plane's 16 bytes gathered from the 48 bytes of the
   scanline by three byte shuffles. Returns the first pixel left for the scalar loop. */
__attribute__((target("ssse3"))) static uint32_t copy_planes3_ssse3(const unsigned char *restrict row, const shuffle3 *s,
                                                                  unsigned char *const *planes, uint32_t c0, uint32_t c1) {
    __m128i mask[3][3];
    for (int p = 0; p < 3; p++)
        for (int part = 0; part < 3; part++) mask[p][part] = _mm_loadu_si128((const __m128i *)s->lanes[p][part]);
    uint32_t c = c0;
    for (; c + 16 <= c1; c += 16) {
        const unsigned char *src = row + 3 * (size_t)c;
        __m128i a = _mm_loadu_si128((const __m128i *)src), b = _mm_loadu_si128((const __m128i *)(src + 16)),
                d = _mm_loadu_si128((const __m128i *)(src + 32));
        for (int p = 0; p < 3; p++) {
            __m128i v = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, mask[p][0]), _mm_shuffle_epi8(b, mask[p][1])),
                                     _mm_shuffle_epi8(d, mask[p][2]));
            _mm_storeu_si128((__m128i *)(planes[p] + c), v);
        }
    }
    return c;
}
#endif

/* Pixels [c0, c1) of an interleaved three-sample scanline into three planes, samples `bands`
   (`shuffle` made from the same bands; used where the processor has SSSE3). */
static void copy_planes3(const unsigned char *restrict row, const int *bands, const shuffle3 *shuffle, int ssse3,
                         unsigned char *p0, unsigned char *p1, unsigned char *p2, uint32_t c0,
                         uint32_t c1) {
    uint32_t c = c0;
#ifdef GEOINFER_SSSE3
    if (ssse3) {
        unsigned char *planes[3] = {p0, p1, p2};
        c = copy_planes3_ssse3(row, shuffle, planes, c0, c1);
    }
#else
    (void)shuffle;
    (void)ssse3;
#endif
    const unsigned char *restrict s0 = row + (bands[0] - 1), *restrict s1 = row + (bands[1] - 1),
                                  *restrict s2 = row + (bands[2] - 1);
    for (; c < c1; c++) {
        p0[c] = s0[3 * c];
        p1[c] = s1[3 * c];
        p2[c] = s2[3 * c];
    }
}

int geoinfer_jpegtiff_read(geoinfer_jpegtiff *t, int k, int x, int y, int w, int h, const int *bands, int nbands,
                           unsigned char *out, long row_stride, long band_stride, char *err, int err_len) {
    if (!(k == 1 || k == 2 || k == 4 || k == 8)) return fail(err, err_len, "the reduction must be 1, 2, 4 or 8");
    /* A block's reduced pixels must fall on whole pixels of the reduced image (a strip spans the
       whole width, so only its height counts, and a single strip holding the whole image always
       does). */
    int single_strip = !t->tiled && t->block_h >= t->height;
    if ((t->block_h % (uint32_t)k != 0 && !single_strip) || (t->tiled && t->block_w % (uint32_t)k != 0))
        return fail(err, err_len, "the blocks are not a multiple of the reduction");
    uint32_t rw = ceil_div(t->width, (uint32_t)k), rh = ceil_div(t->height, (uint32_t)k);
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || (uint32_t)x + (uint32_t)w > rw || (uint32_t)y + (uint32_t)h > rh)
        return fail(err, err_len, "the window is outside the reduced image");
    for (int b = 0; b < nbands; b++)
        if (bands[b] < 1 || bands[b] > t->samples) return fail(err, err_len, "a band is out of range");
    uint32_t bw = ceil_div(t->block_w, (uint32_t)k), bh = ceil_div(t->block_h, (uint32_t)k); /* a block, reduced */
    size_t row_bytes = (size_t)bw * (size_t)t->samples;
    if (row_bytes > t->row_cap) {
        unsigned char *row = realloc(t->row, row_bytes);
        if (!row) return fail(err, err_len, "out of memory");
        t->row = row;
        t->row_cap = row_bytes;
    }
    shuffle3 shuffle;
    if (t->samples == 3 && nbands == 3) shuffle3_make(&shuffle, bands);
    struct jpeg_decompress_struct cinfo;
    struct decode_error jerr;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = on_error;
    jerr.pub.emit_message = on_message;
    jerr.progress.progress_monitor = on_progress;
    jerr.reason = NULL;
    if (setjmp(jerr.jump)) {
        char message[JMSG_LENGTH_MAX];
        if (jerr.reason) snprintf(message, sizeof message, "%s", jerr.reason);
        else (*cinfo.err->format_message)((j_common_ptr)&cinfo, message);
        jpeg_destroy_decompress(&cinfo);
        return fail(err, err_len, message);
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &jerr.progress;
    cinfo.mem->max_memory_to_use = MAX_BUFFER_BYTES;
    int result = 0;
    uint32_t xe = (uint32_t)x + (uint32_t)w, ye = (uint32_t)y + (uint32_t)h; /* the window's ends */
    for (uint32_t by = (uint32_t)y / bh; by * bh < ye && result == 0; by++) {
        for (uint32_t bx = (uint32_t)x / bw; bx * bw < xe && result == 0; bx++) {
            uint32_t block = t->tiled ? TIFFComputeTile(t->tiff, bx * t->block_w, by * t->block_h, 0, 0)
                                      : TIFFComputeStrip(t->tiff, by * t->block_h, 0);
            int bad = 0;
            uint64_t size = TIFFGetStrileByteCount(t->tiff, block), offset = TIFFGetStrileOffset(t->tiff, block);
            if (size == 0 || offset > t->file_size || size > t->file_size - offset || size > (256u << 20)) {
                result = fail(err, err_len, "a block's bytes are not in the file");
                break;
            }
            if (size > t->raw_cap) {
                unsigned char *raw = realloc(t->raw, (size_t)size);
                if (!raw) {
                    result = fail(err, err_len, "out of memory");
                    break;
                }
                t->raw = raw;
                t->raw_cap = (size_t)size;
            }
            tmsize_t got = t->tiled ? TIFFReadRawTile(t->tiff, block, t->raw, (tmsize_t)size)
                                    : TIFFReadRawStrip(t->tiff, block, t->raw, (tmsize_t)size);
            if (got != (tmsize_t)size) {
                result = fail(err, err_len, "a block could not be read");
                break;
            }
            if (t->tables_len > 0) {
                jpeg_mem_src(&cinfo, t->tables, t->tables_len);
                if (jpeg_read_header(&cinfo, FALSE) != JPEG_HEADER_TABLES_ONLY) bad = 1;
            }
            jpeg_mem_src(&cinfo, t->raw, (unsigned long)size);
            if (!bad && jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) bad = 1;
            /* The rows this block holds: a strip at the image's end may be shorter. */
            uint32_t rows = t->tiled ? t->block_h
                                     : (t->height - by * t->block_h < t->block_h ? t->height - by * t->block_h : t->block_h);
            if (bad || cinfo.image_width != t->block_w || (cinfo.image_height != rows && cinfo.image_height != t->block_h)
                || cinfo.num_components != t->samples || cinfo.data_precision != 8 || cinfo.progressive_mode) {
                jpeg_abort_decompress(&cinfo);
                result = fail(err, err_len, "a block's JPEG header does not match the TIFF, or is progressive");
                break;
            }
            /* As libtiff reads them: YCbCr converted to RGB, anything else as stored. */
            if (t->samples == 3) {
                cinfo.jpeg_color_space = t->ycbcr ? JCS_YCbCr : JCS_RGB;
                cinfo.out_color_space = JCS_RGB;
            } else {
                cinfo.jpeg_color_space = JCS_GRAYSCALE;
                cinfo.out_color_space = JCS_GRAYSCALE;
            }
            cinfo.scale_num = 1;
            cinfo.scale_denom = (unsigned int)k;
            jpeg_start_decompress(&cinfo);
            if (cinfo.output_width != bw || cinfo.output_components != t->samples) {
                jpeg_abort_decompress(&cinfo);
                result = fail(err, err_len, "libjpeg's reduced size does not match the blocks");
                break;
            }
            uint32_t keep = ceil_div(rows, (uint32_t)k); /* the rows of this block that are image */
            uint32_t x0 = bx * bw, y0 = by * bh;
            uint32_t c0 = (uint32_t)x > x0 ? (uint32_t)x - x0 : 0;
            uint32_t c1 = xe - x0 < bw ? xe - x0 : bw; /* within the image: xe <= rw */
            while (cinfo.output_scanline < cinfo.output_height) {
                JSAMPROW row = t->row;
                if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
                uint32_t r = cinfo.output_scanline - 1, oy = y0 + r;
                if (r >= keep || oy < (uint32_t)y || oy >= ye) continue;
                unsigned char *line = out + ((long)oy - y) * row_stride + ((long)x0 - x);
                if (t->samples == 3 && nbands == 3) {
                    /* The common case in one pass over the interleaved scanline. */
                    copy_planes3(t->row, bands, &shuffle, t->ssse3, line, line + band_stride, line + 2 * band_stride, c0, c1);
                } else {
                    for (int b = 0; b < nbands; b++) {
                        const unsigned char *src = t->row + (bands[b] - 1);
                        unsigned char *dst = line + (long)b * band_stride;
                        for (uint32_t c = c0; c < c1; c++) dst[c] = src[(size_t)c * (size_t)t->samples];
                    }
                }
            }
            jpeg_finish_decompress(&cinfo);
        }
    }
    jpeg_destroy_decompress(&cinfo);
    return result;
}
