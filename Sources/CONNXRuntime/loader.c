#include "CONNXRuntime.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *handle = NULL;
static const OrtApi *api = NULL;

typedef const OrtApiBase *(*GetApiBaseFn)(void);

const OrtApi *geo_ort_load(const char *path, char *error, int errorSize) {
    pthread_mutex_lock(&lock);
    if (api != NULL) {
        pthread_mutex_unlock(&lock);
        return api;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(error, (size_t)errorSize, "%s", dlerror());
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    GetApiBaseFn getBase = (GetApiBaseFn)dlsym(h, "OrtGetApiBase");
    if (getBase == NULL) {
        snprintf(error, (size_t)errorSize, "%s does not export OrtGetApiBase", path);
        dlclose(h);
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    const OrtApi *table = getBase()->GetApi(ORT_API_VERSION);
    if (table == NULL) {
        snprintf(error, (size_t)errorSize, "ONNX Runtime %s does not offer API version %d",
                 getBase()->GetVersionString(), ORT_API_VERSION);
        dlclose(h);
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    handle = h;
    api = table;
    pthread_mutex_unlock(&lock);
    return api;
}

const OrtApi *geo_ort_api(void) {
    pthread_mutex_lock(&lock);
    const OrtApi *result = api;
    pthread_mutex_unlock(&lock);
    return result;
}

const char *geo_ort_version(void) {
    if (geo_ort_api() == NULL) return NULL;
    GetApiBaseFn getBase = (GetApiBaseFn)dlsym(handle, "OrtGetApiBase");
    return getBase ? getBase()->GetVersionString() : NULL;
}

