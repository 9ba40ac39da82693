/* The npm package's prebuilt llama.cpp libraries load their CPU backend at run time, one library
 * per CPU generation (libggml-cpu-zen4.so, -haswell, ...): ORACLE_BACKENDS names their folder
 * (tests/cli/lib/oracle.sh sets it). A cmake build of the source links the backend in and leaves
 * the variable unset. */
#ifndef ORACLE_BACKENDS_H
#define ORACLE_BACKENDS_H
#include "ggml-backend.h"
#include <stdlib.h>

static inline void oracle_load_backends(void) {
    const char *dir = getenv("ORACLE_BACKENDS");
    if (dir && *dir) ggml_backend_load_all_from_path(dir);
}
#endif
