#include "cli/selfexec.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int run(const char *const *argv, const char *out, int quiet) {
    int n = 0;
    while (argv[n]) n++;
    const char **args = calloc((size_t)n + 3, sizeof *args);
    if (!args) return -1;
    args[0] = "moelens";
    for (int i = 0; i < n; i++) args[i + 1] = argv[i];
    if (quiet) args[n + 1] = "--help";
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        free(args);
        return -1;
    }
    if (pid == 0) {
        int fd = -1;
        if (quiet)
            fd = open("/dev/null", O_WRONLY);
        else if (out)
            fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if ((quiet || out) && fd < 0) _exit(127);
        if (fd >= 0) dup2(fd, 1);
        if (quiet) dup2(fd, 2);
        /* Stages run one after another, often beside other work: threads that sleep at OpenMP
         * barriers instead of spinning keep a shared machine usable (a user's setting wins). */
        setenv("OMP_WAIT_POLICY", "passive", 0);
        execv("/proc/self/exe", (char *const *)args);
        _exit(127);
    }
    free(args);
    int st;
    if (waitpid(pid, &st, 0) < 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int self_run(const char *const *argv, const char *stdout_path) {
    return run(argv, stdout_path, 0);
}
int self_has(const char *const *argv) {
    return run(argv, NULL, 1) == 0;
}
