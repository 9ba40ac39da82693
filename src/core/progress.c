#include "core/progress.h"
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double ml_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_start(Progress *p, const char *label, long total) {
    p->label = label;
    p->total = total;
    p->start = p->last_print = ml_now();
    p->tty = isatty(fileno(stderr));
    p->interval = p->tty ? 0.2 : 10.0;
}

static void print_line(Progress *p, long done, const char *extra, int final) {
    double el = ml_now() - p->start;
    double eta = done > 0 && p->total > done ? el / done * (p->total - done) : 0;
    fprintf(stderr, "%s%s %ld/%ld  %.1fs elapsed  ETA %.0fs%s%s%s", p->tty ? "\r\033[K" : "",
            p->label, done, p->total, el, eta, extra ? "  " : "", extra ? extra : "",
            (!p->tty || final) ? "\n" : "");
    fflush(stderr);
}

void progress_update(Progress *p, long done, const char *extra) {
    double now = ml_now();
    if (now - p->last_print < p->interval && done < p->total) return;
    p->last_print = now;
    print_line(p, done, extra, 0);
}

void progress_end(Progress *p, const char *extra) {
    print_line(p, p->total, extra, 1);
}
