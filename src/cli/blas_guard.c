#define _GNU_SOURCE /* sched_getaffinity */
/* Start-up guard for a virtual-memory limit (ulimit -v). Debian's OpenBLAS 0.3.21 (OpenMP build)
 * reserves ~128 MiB of buffer per OpenMP thread in its library constructor and, when malloc
 * fails, retries forever: every command would hang before main. This runs from the executable's
 * .preinit_array, before any shared library's constructor (libgomp, OpenBLAS), and lowers
 * OMP_NUM_THREADS to what the limit can hold, or stops with a clear message. Measured on this
 * machine: 1 thread needs ~200 MiB of address space, each further thread ~136 MiB more. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum { BASE_MIB = 96, PER_THREAD_MIB = 144 };

static long cpus_allowed(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

static void blas_guard(int argc, char **argv, char **envp) {
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return;
    long mib = (long)(r.rlim_cur >> 20), fit = (mib - BASE_MIB) / PER_THREAD_MIB;
    if (fit < 1) {
        fprintf(stderr,
                "moelens: error: the virtual-memory limit (ulimit -v) of %ld MiB is below the "
                "~%d MiB OpenBLAS reserves at start-up (it would hang retrying); raise it\n",
                mib, BASE_MIB + PER_THREAD_MIB);
        _exit(1);
    }
    const char *env = NULL; /* environ is not set up yet at this point: read envp */
    for (char **e = envp; *e; e++)
        if (!strncmp(*e, "OMP_NUM_THREADS=", 16)) env = *e + 16;
    long want = env && atol(env) > 0 ? atol(env) : cpus_allowed();
    if (want <= fit) return;
    /* environ is not ready for setenv yet: start again with the variable in the environment
     * (the new process finds want <= fit and goes on) */
    int n = 0;
    while (envp[n]) n++;
    char **env2 = calloc(n + 2, sizeof *env2), var[48];
    if (!env2) return;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(envp[i], "OMP_NUM_THREADS=", 16)) env2[k++] = envp[i];
    snprintf(var, sizeof var, "OMP_NUM_THREADS=%ld", fit);
    env2[k++] = var;
    fprintf(stderr,
            "moelens: warning: ulimit -v %ld MiB holds OpenBLAS buffers for %ld thread(s): using "
            "OMP_NUM_THREADS=%ld\n",
            mib, fit, fit);
    execve("/proc/self/exe", argv, env2);
    free(env2); /* exec failed: go on and hope */
}

__attribute__((section(".preinit_array"),
               used)) static void (*const run_blas_guard)(int, char **, char **) = blas_guard;
