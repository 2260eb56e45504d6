/* t.h — the unit tests' tiny harness: CHECK records a failure and goes on; main returns
 * t_report() so a failing check makes the test binary exit non-zero. */
#ifndef CHATD_T_H
#define CHATD_T_H
#include <stdio.h>
#include <string.h>

static int t_checks, t_fails;

#define CHECK(cond) do { t_checks++; if (!(cond)) { t_fails++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); t_checks++; \
    if (_a != _b) { t_fails++; fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", \
    __FILE__, __LINE__, #a, _a, _b); } } while (0)
#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); t_checks++; \
    if (!_a || strcmp(_a, _b) != 0) { t_fails++; fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", \
    __FILE__, __LINE__, #a, _a ? _a : "(null)", _b); } } while (0)

static int t_report(const char *name)
{
    fprintf(stderr, "%s: %d checks, %d failed\n", name, t_checks, t_fails);
    return t_fails ? 1 : 0;
}
#endif
