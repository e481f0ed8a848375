/* Reporting for guests that check behaviour from the inside: each check
 * prints "ok <name>" or, at its first unmet expectation,
 * "FAIL <name>: <detail>"; the integration tests read these lines. */
#ifndef XG_CHECK_H
#define XG_CHECK_H

extern int failures;            /* checks failed so far */
extern const char *check_name;  /* the check under way, or NULL */
extern int check_failed;        /* the check under way has failed */

void begin(const char *name);
void end(void);
void fail(const char *what);
void want(const char *what, int cond);
void want_rc(const char *what, long got, long want);
void want_hex(const char *what, unsigned long got, unsigned long want);
/* A whole check whose only expectation is a result code. */
void check_rc(const char *name, long got, long want);
/* fail() with a printk-formatted detail. */
void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* XG_CHECK_H */
