/* log.h: structured logging, one JSON object per line on stderr. Never log secrets. */
#ifndef SQ_LOG_H
#define SQ_LOG_H

#include <stddef.h>

typedef enum { SQ_LOG_DEBUG = 0, SQ_LOG_INFO, SQ_LOG_WARN, SQ_LOG_ERROR } sq_log_level_t;

/** Sets the minimum level written (thread-safe; used by config reload). */
void sq_log_set_level(sq_log_level_t level);
/** Parses "debug|info|warn|error"; returns -1 if unknown. */
int sq_log_level_parse(const char *s);
/** Writes {"ts","level","component","msg"} as one line with one write(2). */
void sq_log(sq_log_level_t level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** Writes a line the caller already built as a JSON object (the access log). Adds the newline. */
void sq_log_raw(const char *json, size_t len);
/** Appends s JSON-escaped (without quotes) to buf; returns the new length, never writing past cap. */
size_t sq_json_escape(char *buf, size_t len, size_t cap, const char *s, size_t slen);

#endif
