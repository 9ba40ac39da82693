/* The tiny test runner. A test file holds `TEST(name) { ... CHECK(...); }` blocks; every TEST
 * registers itself before main runs. The runner (tests/test_main.c) prints each failure with its
 * file and line and ends with "N passed, N failed". Run a subset: moelens_tests NAME_SUBSTRING. */
#pragma once
#include <math.h>
#include <stdio.h>

typedef void (*TestFn)(void);
void test_register(const char *name, TestFn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int test_failed_now(void); /* has the current test failed yet? */

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void) {                               \
        test_register(#name, test_##name);                                                         \
    }                                                                                              \
    static void test_##name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);                                   \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol)))                                                             \
            test_fail(__FILE__, __LINE__, "%s = %.9g, %s = %.9g, |diff| %.3g > %.3g", #a, a_, #b,  \
                      b_, fabs(a_ - b_), (double)(tol));                                           \
    } while (0)

/* Where tests may write files (a fresh temporary folder per run of the binary). */
const char *test_tmpdir(void);
