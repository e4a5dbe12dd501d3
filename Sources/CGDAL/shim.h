#ifndef GEOINFER_CGDAL_SHIM_H
#define GEOINFER_CGDAL_SHIM_H
#include <gdal.h>
#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <ogr_srs_api.h>
#include <ogr_api.h>

/* CPLFree is a macro; Swift cannot see it. */
static inline void geo_cpl_free(void *p) { VSIFree(p); }

/* A GDALRasterIOExtraArg initialised as INIT_RASTERIO_EXTRA_ARG does (a macro Swift cannot see),
   with the resampling algorithm and a floating-point source window. */
static inline GDALRasterIOExtraArg geo_rasterio_extra(GDALRIOResampleAlg alg, int useFloatWindow,
                                                      double xOff, double yOff, double xSize, double ySize) {
    GDALRasterIOExtraArg arg;
    INIT_RASTERIO_EXTRA_ARG(arg);
    arg.eResampleAlg = alg;
    if (useFloatWindow) {
        arg.bFloatingPointWindowValidity = TRUE;
        arg.dfXOff = xOff; arg.dfYOff = yOff; arg.dfXSize = xSize; arg.dfYSize = ySize;
    }
    return arg;
}
#endif
