/* log.c: JSON-lines logger; each line is written with a single write(2) so threads never interleave. */
#include "core/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int min_level = SQ_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

void sq_log_set_level(sq_log_level_t level)
{
    __atomic_store_n(&min_level, (int)level, __ATOMIC_RELAXED);
}

int sq_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

size_t sq_json_escape(char *buf, size_t len, size_t cap, const char *s, size_t slen)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < slen && len + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[len++] = '\\';
            buf[len++] = 'u';
            buf[len++] = '0';
            buf[len++] = '0';
            buf[len++] = hex[c >> 4];
            buf[len++] = hex[c & 15];
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

void sq_log_raw(const char *json, size_t len)
{
    struct iovec iov[2] = {{(void *)json, len}, {"\n", 1}};
    ssize_t r = writev(2, iov, 2);
    (void)r;
}

void sq_log(sq_log_level_t level, const char *component, const char *fmt, ...)
{
    if ((int)level < __atomic_load_n(&min_level, __ATOMIC_RELAXED))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[1536];
    size_t len = (size_t)snprintf(
        line, sizeof(line), "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"component\":\"", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
    len = sq_json_escape(line, len, sizeof(line) - 16, component, strlen(component));
    memcpy(line + len, "\",\"msg\":\"", 9);
    len += 9;
    len = sq_json_escape(line, len, sizeof(line) - 4, msg, (size_t)n);
    line[len++] = '"';
    line[len++] = '}';
    sq_log_raw(line, len);
}
