/* .npy arrays as doubles for drawing. */
#pragma once
#include "core/npy.h"

/* Every element of a as a double (ml_free it); NULL for a dtype other than f4 f8 i4 i8 u1 u2 u4 i1.
 */
double *npy_to_doubles(const NpyArray *a);
/* Reads path into doubles; shape/ndim filled (shape has room for 8). NULL if unreadable. */
double *npy_load_doubles(const char *path, int64_t *shape, int *ndim);
