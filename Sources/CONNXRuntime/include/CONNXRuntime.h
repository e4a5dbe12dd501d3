#ifndef GEOINFER_CONNXRUNTIME_H
#define GEOINFER_CONNXRUNTIME_H
#include "onnxruntime_c_api.h"

/* Opens the ONNX Runtime shared library at `path` (dlopen) and returns its API table for
   ORT_API_VERSION, or NULL with a message in `error`. Loading is done once per process; later calls
   return the table already loaded (and ignore `path`). */
const OrtApi *geo_ort_load(const char *path, char *error, int errorSize);

/* The API table loaded by geo_ort_load, or NULL before a successful load. */
const OrtApi *geo_ort_api(void);

/* The version string of the loaded library ("1.32.0"), or NULL. */
const char *geo_ort_version(void);

#endif
