/* OpenMP thread queries that also build without OpenMP (make NO_OMP=1: one thread). */
#pragma once
#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_num_threads(void) {
    return 1;
}
static inline int omp_get_thread_num(void) {
    return 0;
}
static inline int omp_get_max_threads(void) {
    return 1;
}
static inline int omp_in_parallel(void) {
    return 0;
}
static inline void omp_set_num_threads(int n) {
    (void)n;
}
#endif
