/* Progress for long work: on a terminal one line redrawn in place (step/total, rate, ETA, extra
 * text); otherwise a plain line at most every `interval` seconds, so logs stay readable. */
#pragma once

typedef struct {
    const char *label;
    long total;
    double start, last_print;
    int tty;
    double interval;
} Progress;

double ml_now(void); /* monotonic seconds */
void progress_start(Progress *p, const char *label, long total);
/* `extra` is appended as is (e.g. "loss 3.21"); pass NULL for none. */
void progress_update(Progress *p, long done, const char *extra);
void progress_end(Progress *p, const char *extra);
