/* log: leveled logging for every WormFS module.
 *
 * Libraries call wfs_log(); only programs choose where lines go
 * (wfs_log_set_sink, wfs_log_open_file).  With no sink set, lines at warn and
 * above go to stderr so a failing test shows why; programs and tests may
 * silence that with wfs_log_set_level(WFS_LOG_NONE).
 *
 * Message style (STYLE.md): lower case, says what failed, on what, and why,
 * no trailing period: "chunk 7f3a/2 on disk d4: read failed: Input/output error".
 */
#ifndef WFS_LOG_LOG_H
#define WFS_LOG_LOG_H

enum wfs_log_level {
	WFS_LOG_NONE = 0,	/* only for wfs_log_set_level: print nothing */
	WFS_LOG_ERROR,
	WFS_LOG_WARN,
	WFS_LOG_INFO,
	WFS_LOG_DEBUG,
};

/* Receives one formatted line (no trailing newline).  Called with the log
 * lock held, from whichever thread logged: it must not call wfs_log. */
typedef void (*wfs_log_sink_cb)(enum wfs_log_level level, const char *subsystem,
				const char *line, void *arg);

/* The level above which lines are dropped before formatting.  Read without a
 * lock on every call; set it at start-up or from a signal-free context. */
extern enum wfs_log_level wfs_log_threshold;

/* Log one line if @level passes the threshold.  Arguments are not evaluated
 * when it does not.  Any thread. */
#define wfs_log(level, subsystem, ...)                                        \
	do {                                                                  \
		if ((level) <= wfs_log_threshold)                             \
			wfs_log_emit((level), (subsystem), __VA_ARGS__);      \
	} while (0)

#define wfs_log_error(sub, ...) wfs_log(WFS_LOG_ERROR, (sub), __VA_ARGS__)
#define wfs_log_warn(sub, ...)	wfs_log(WFS_LOG_WARN, (sub), __VA_ARGS__)
#define wfs_log_info(sub, ...)	wfs_log(WFS_LOG_INFO, (sub), __VA_ARGS__)
#define wfs_log_debug(sub, ...) wfs_log(WFS_LOG_DEBUG, (sub), __VA_ARGS__)

/* Format and deliver a line unconditionally; use wfs_log() instead. */
void wfs_log_emit(enum wfs_log_level level, const char *subsystem,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Set the threshold (WFS_LOG_NONE silences everything). */
void wfs_log_set_level(enum wfs_log_level level);

/* Parse "error", "warn", "info" or "debug".  Returns 0 and sets *out, or
 * -EINVAL for anything else. */
int wfs_log_parse_level(const char *name, enum wfs_log_level *out);

/* Route lines to @cb with @arg; NULL restores the stderr default.  @arg is
 * borrowed until the sink is replaced. */
void wfs_log_set_sink(wfs_log_sink_cb cb, void *arg);

/* Route lines, timestamped, to the file at @path (appended, created 0640).
 * Returns 0 or a negative errno; on failure the previous sink stays. */
int wfs_log_open_file(const char *path);

/* Route lines, timestamped, to stderr (the default for programs). */
void wfs_log_to_stderr(void);

/* The level's name as printed in a line ("error", "warn", ...). */
const char *wfs_log_level_name(enum wfs_log_level level);

#endif
