/*
 * gateway_plugin.h: the whole contract between the gateway host and its plugins.
 *
 * ABI version 1.2.  Pure C99, no dependency but <stdint.h> and <stddef.h>.
 *
 * A plugin is a shared library (.so) that exports ONE symbol:
 *
 *     const gw_plugin_descriptor *gw_plugin_init_v1(const gw_host_api *host, gw_error *err);
 *
 * The host loads it with dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE), calls the entry
 * once, and never unloads the image. Rows cross the boundary as the Arrow C Data Interface
 * (ArrowSchema, ArrowArray) and the Arrow C Stream Interface (ArrowArrayStream), the public
 * standard for columnar data across a C ABI.
 *
 * VERSION RULE. GW_ABI_MAJOR must match exactly (it is also part of the entry symbol's
 * name). A plugin built against a newer GW_ABI_MINOR than the host is refused; an older
 * one keeps working, because every table starts with `struct_size` and only ever grows at
 * its end: a reader never touches a field that lies beyond the struct_size it was given.
 *
 * OWNERSHIP, in one line: whoever allocates a thing releases it. Every pointer below says
 * who owns it and how long it lives. "Borrowed" means: valid for the duration of the call
 * only; copy what you need to keep.
 *
 * STRINGS. Every string the host passes is UTF-8 and NUL-terminated, also those that come
 * with a length (config_json, request_json: the byte at [len] is 0, and len == strlen), so
 * C's string functions are safe on them. Strings a plugin passes are NUL-terminated too.
 *
 * THREADS. The host never calls one plugin instance from two threads at once, but
 * successive calls on one instance may come from different threads. Different instances
 * may run concurrently, so a plugin keeps no mutable process-wide state. Every host
 * service in gw_host_api is thread-safe and may block (plugin code runs on host worker
 * threads, never on an event loop). A cancel request may arrive from any thread at any
 * time: the host then makes is_cancelled() return 1 and aborts pending http_request()
 * calls, and the plugin must return GW_CANCELLED promptly.
 */
#ifndef GATEWAY_PLUGIN_H
#define GATEWAY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GW_ABI_MAJOR 1
#define GW_ABI_MINOR 2

/* The entry symbol's name for this major version. */
#define GW_PLUGIN_ENTRY_SYMBOL "gw_plugin_init_v1"

/* Exported-symbol decoration for plugin authors writing in C. */
#if defined(__GNUC__) || defined(__clang__)
#define GW_EXPORT __attribute__((visibility("default")))
#else
#define GW_EXPORT
#endif

/* ========================================================================================
 * Arrow C Data Interface and C Stream Interface, verbatim from the Apache Arrow
 * specification (https://arrow.apache.org/docs/format/CDataInterface.html). The guard
 * lets a plugin that already includes Arrow's own definitions use them unchanged.
 * ======================================================================================== */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char *format;
  const char *name;
  const char *metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema **children;
  struct ArrowSchema *dictionary;
  void (*release)(struct ArrowSchema *);
  void *private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void **buffers;
  struct ArrowArray **children;
  struct ArrowArray *dictionary;
  void (*release)(struct ArrowArray *);
  void *private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
  int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
  const char *(*get_last_error)(struct ArrowArrayStream *);
  void (*release)(struct ArrowArrayStream *);
  void *private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

/* ========================================================================================
 * Rows at the boundary.
 *
 * A batch of rows is a struct array (schema format "+s") whose children are the columns.
 * These column types are the ones every plugin may meet and every format/exporter plugin
 * must accept (they are the types of the query API, seed 001). Arrow format strings:
 *
 *   "n" null            "b" boolean
 *   "c" int8   "s" int16   "i" int32   "l" int64
 *   "C" uint8  "S" uint16  "I" uint32  "L" uint64
 *   "f" float32         "g" float64
 *   "d:P,S" decimal128(precision P, scale S)   "d:P,S,256" decimal256
 *   "tdD" date32 (days since epoch)            "tdm" date64 (milliseconds since epoch)
 *   "tsu:UTC" timestamp, microseconds, UTC (other units s/m/n and other zones may appear;
 *             an empty zone "tsu:" means wall-clock time without a zone)
 *   "z" binary          "u" utf8
 *
 * A column that is nullable carries ARROW_FLAG_NULLABLE and a validity bitmap when it
 * holds nulls. A stream's batches all have the schema get_schema() returned.
 * ======================================================================================== */

/* ========================================================================================
 * Status codes and errors
 * ======================================================================================== */

typedef int32_t gw_status;

#define GW_OK 0
#define GW_INVALID_ARGUMENT 1 /* a request or input the plugin cannot accept */
#define GW_INVALID_CONFIG 2   /* the instance configuration is wrong; fix config, not retry */
#define GW_AUTH 3             /* credentials refused by a remote system */
#define GW_RATE_LIMITED 4     /* retryable after a pause */
#define GW_UNAVAILABLE 5      /* retryable: network failure, timeout, remote 5xx */
#define GW_NOT_FOUND 6
#define GW_CANCELLED 7        /* the host asked to stop */
#define GW_UNSUPPORTED 8      /* the plugin does not implement what was asked */
#define GW_DENIED 9           /* the host refused a service call (e.g. host not allowed) */
#define GW_IO 10              /* reading or writing a file failed */
#define GW_INTERNAL 11        /* a bug or an unexpected state */

/* Size of gw_error.message, terminating NUL included. */
#define GW_ERROR_MESSAGE_SIZE 1024

/*
 * An error message. The CALLER allocates it (usually on its stack), zeroes it, and passes
 * a pointer; the callee, when it returns a status other than GW_OK, writes a NUL-terminated
 * UTF-8 message into `message`, truncated to fit. Nothing in it needs releasing.
 */
typedef struct gw_error {
  char message[GW_ERROR_MESSAGE_SIZE];
} gw_error;

/* ========================================================================================
 * Host services: a table the host passes to gw_plugin_init_v1.
 *
 * The table and everything it points to are owned by the host and live for the whole
 * process. Every function is thread-safe.
 *
 * Services act on behalf of one plugin instance, named by the gw_host_ctx the host passed
 * to that instance's open(). A gw_host_ctx is owned by the host and valid from open()
 * until close() of that instance has returned.
 * ======================================================================================== */

typedef struct gw_host_ctx gw_host_ctx; /* opaque */

#define GW_LOG_DEBUG 0
#define GW_LOG_INFO 1
#define GW_LOG_WARNING 2
#define GW_LOG_ERROR 3

/* One HTTP header. Both strings are borrowed, NUL-terminated. */
typedef struct gw_http_header {
  const char *name;
  const char *value;
} gw_http_header;

/* An HTTP request the plugin asks the host to perform. All of it is borrowed: it must stay
 * valid until http_request() returns, and the host copies what it needs. */
typedef struct gw_http_request {
  uint32_t struct_size;         /* sizeof(gw_http_request) as the plugin compiled it */
  const char *method;           /* "GET", "POST", ... */
  const char *url;              /* absolute http:// or https:// URL */
  const gw_http_header *headers;
  size_t n_headers;
  const uint8_t *body;          /* may be NULL when body_len is 0 */
  size_t body_len;
  uint32_t timeout_ms;          /* 0 = the host's default; the host may cap it */
} gw_http_request;

/* The host's answer. The host fills it and owns every pointer in it, until the plugin
 * passes it to http_response_release() (exactly once, after a GW_OK return). */
typedef struct gw_http_response {
  int32_t status_code;
  const gw_http_header *headers; /* names in lower case */
  size_t n_headers;
  const uint8_t *body;
  size_t body_len;
  void *host_private;            /* the host's; do not touch */
} gw_http_response;

/* Bytes owned by the host until the plugin passes them to bytes_release(). */
typedef struct gw_bytes {
  const uint8_t *data;
  size_t len;
  void *host_private;
} gw_bytes;

typedef struct gw_host_api {
  uint32_t struct_size; /* sizeof(gw_host_api) as the host compiled it */
  uint16_t abi_major;   /* the host's GW_ABI_MAJOR */
  uint16_t abi_minor;   /* the host's GW_ABI_MINOR */

  /* Write one log line attributed to the instance. `message` is borrowed. */
  void (*log)(gw_host_ctx *ctx, int32_t level, const char *message);

  /* Perform an HTTP request and wait for its complete answer. The host enforces its
   * allow-list of hosts (GW_DENIED), its timeouts (GW_UNAVAILABLE), cancellation
   * (GW_CANCELLED) and a cap on concurrent requests; several threads may call this at
   * once. Transport failures return a status; any HTTP status code returns GW_OK with
   * `out->status_code` set. On GW_OK the caller must call http_response_release(out). */
  gw_status (*http_request)(gw_host_ctx *ctx, const gw_http_request *request,
                            gw_http_response *out, gw_error *err);
  void (*http_response_release)(gw_http_response *response);

  /* Persistent key/value state of this instance (tokens, cursors), kept in the host's
   * store across restarts. Keys are borrowed NUL-terminated UTF-8 strings (at most 255
   * bytes); values are borrowed bytes, copied by the host. state_get returns GW_NOT_FOUND
   * when the key is absent; on GW_OK the caller must call bytes_release(out). */
  gw_status (*state_get)(gw_host_ctx *ctx, const char *key, gw_bytes *out, gw_error *err);
  gw_status (*state_set)(gw_host_ctx *ctx, const char *key, const uint8_t *value,
                         size_t value_len, gw_error *err);
  gw_status (*state_delete)(gw_host_ctx *ctx, const char *key, gw_error *err);
  void (*bytes_release)(gw_bytes *bytes);

  /* Report progress of the running call: `done` of `total` units (total < 0 when
   * unknown). `message` is borrowed and may be NULL. */
  void (*progress)(gw_host_ctx *ctx, int64_t done, int64_t total, const char *message);

  /* 1 once the host wants the running work stopped, else 0. Cheap; poll it between
   * batches and pages. */
  int32_t (*is_cancelled)(gw_host_ctx *ctx);

  /* ---- ABI 1.1: services shared by all instances of one plugin in this host. A plugin
   * that uses them checks `struct_size` reaches them (an ABI 1.0 host has none). ---- */

  /* A named lock shared by every instance of this plugin: what one instance does while
   * holding "token:app1" (refresh a token) no other instance does at the same time. Waits
   * up to `timeout_ms` (GW_UNAVAILABLE when it runs out; GW_CANCELLED when cancelled). `name`
   * is borrowed. Every GW_OK must be paired with shared_unlock from the same thread. */
  gw_status (*shared_lock)(gw_host_ctx *ctx, const char *name, uint32_t timeout_ms, gw_error *err);
  void (*shared_unlock)(gw_host_ctx *ctx, const char *name);

  /* Persistent key/value state shared by every instance of this plugin (the per-instance
   * state_* functions keep instances apart). Same rules as state_get/state_set. */
  gw_status (*shared_state_get)(gw_host_ctx *ctx, const char *key, gw_bytes *out, gw_error *err);
  gw_status (*shared_state_set)(gw_host_ctx *ctx, const char *key, const uint8_t *value,
                                size_t value_len, gw_error *err);

  /* Blocks until one more call may go to a remote API under its rate limits: at most
   * `per_second` calls in any second and `per_minute` in any minute (0 = no such limit),
   * counted across every instance of this plugin that paces on the same `bucket` (e.g. an
   * app key). Returns GW_CANCELLED promptly when cancelled. `bucket` is borrowed. */
  gw_status (*pace)(gw_host_ctx *ctx, const char *bucket, uint32_t per_second, uint32_t per_minute,
                    gw_error *err);

  /* ---- ABI 1.2 ---- */

  /* For SINK instances: the destination refused one row (a validation error on its side)
   * while it accepted the others. `row` is the row's position in the stream since begin()
   * (0-based, counting every row of every batch written so far); `reason` is borrowed,
   * NUL-terminated UTF-8. The host writes it into the run's log and counts the row as
   * rejected, not written. Call it from write_batch() or commit() only. A refusal of a whole
   * batch is not a rejection: return an error status instead. */
  void (*reject_row)(gw_host_ctx *ctx, int64_t row, const char *reason);
} gw_host_api;

/* ========================================================================================
 * Plugin kinds. A plugin implements one or more; each kind is a table of functions.
 *
 * Every kind follows one life cycle:  open → (work)* → finish (a sink: commit) → close.
 *   - open() creates an instance from a JSON configuration (validated against the
 *     descriptor's config_schema_json by the plugin; refuse bad config with
 *     GW_INVALID_CONFIG and a message naming the field). The instance handle is the
 *     plugin's own pointer, opaque to the host, valid until close().
 *   - close() releases everything the instance holds. It is called exactly once for each
 *     successful open(), also after failures and cancellation, and cannot fail.
 * ======================================================================================== */

#define GW_KIND_SOURCE 1u   /* produces rows */
#define GW_KIND_FORMAT 2u   /* serializes rows into a response body */
#define GW_KIND_EXPORTER 4u /* writes rows into downloadable files */
#define GW_KIND_SINK 8u     /* ABI 1.2: writes rows into another system (a destination) */
#define GW_KIND_ALL (GW_KIND_SOURCE | GW_KIND_FORMAT | GW_KIND_EXPORTER | GW_KIND_SINK)

/*
 * SOURCE: produces rows.
 *
 * read() starts one read described by `request_json` (borrowed), a JSON object:
 *   {"params": {"name": ["value", ...], ...},   query parameters, each a list of strings
 *    "query": "...", "query_type": "...",      optional free-form query, if supported
 *    "row_limit": 1000,                         optional; the host also enforces it
 *    "file": "/path/to/input",                  for sources that read files
 *    "batch_size": 10000,                       a dataflow run's rows per batch (a hint)
 *    "force_refresh": true}                     a dataflow run asks an incremental source
 *                                               to read from its configured start, not its
 *                                               saved cursor (sources without one ignore it)
 * Unknown members must be ignored. On GW_OK, `out` (allocated by the host, owned by the
 * host from then on) is a valid ArrowArrayStream: the host reads it and calls its release
 * callback, possibly from another thread; the stream may call host services with the
 * instance's ctx until it is released. Errors while streaming are reported through the
 * stream's get_next() return value (an errno value, EIO for instance; ECANCELED when
 * cancelled) and get_last_error().
 *
 * finish() tells the source that everything the last stream produced has been durably
 * delivered, so it may commit cursors (for example in host state) and a later read resumes
 * after it. A source never commits a cursor before finish(); if finish() is not called,
 * the next read produces those rows again. The host calls it only when the stream was read
 * to its end AND the receiving side committed: a query's response was handed over whole, an
 * export's files were packaged, a dataset's transaction committed, a sink's commit()
 * returned GW_OK. Never after a failure, a cancel, or a row limit that cut the stream short.
 *
 * The host cancels a source's instance (is_cancelled() turns 1, pending http_request()
 * calls are aborted) when the client of a query goes away, when a time budget runs out,
 * when a dataflow run is cancelled or times out, at shutdown, and when it releases a
 * stream before its end. A stream's error (get_next's errno and get_last_error()) reaches
 * the client as the request's status and message when no byte of the response was sent
 * yet; after that, as a response cut short (the chunked body ends without its last chunk).
 *
 * progress(): a source reports pages or rows of a known total; it becomes a dataflow run's
 * progress and an export task's. For formats, exporters and sinks the host shows it nowhere.
 */
typedef struct gw_source_vtable {
  uint32_t struct_size;
  /* Comma-separated file extensions this source reads ("csv,xlsx"), or NULL when it does
   * not read files. Static, owned by the plugin. */
  const char *file_extensions;
  gw_status (*open)(gw_host_ctx *ctx, const char *config_json, size_t config_len,
                    void **instance, gw_error *err);
  gw_status (*read)(void *instance, const char *request_json, size_t request_len,
                    struct ArrowArrayStream *out, gw_error *err);
  gw_status (*finish)(void *instance, gw_error *err);
  void (*close)(void *instance);
} gw_source_vtable;

/*
 * A sink for bytes, provided by the host to a format instance. `write` copies `len` bytes
 * from `data` (borrowed) before returning; it may block while the client is slow
 * (back-pressure) and returns GW_CANCELLED when the client has gone. Owned by the host;
 * valid until the format instance's close() returns.
 */
typedef struct gw_byte_sink {
  void *sink_private;
  gw_status (*write)(void *sink_private, const uint8_t *data, size_t len);
} gw_byte_sink;

/*
 * FORMAT: serializes a stream of batches into bytes (an HTTP response body).
 * The host calls: open → begin(schema) → write_batch(batch)* → finish → close.
 *   - `schema` and each `batch` are borrowed: valid during the call, released by the
 *     host afterwards; the plugin must not call their release callbacks.
 *   - Output goes only through `sink`, as it is produced: a format keeps at most a few
 *     batches in memory, so a response of any size streams in constant memory.
 *   - finish() writes whatever ends the stream (footer, end-of-stream marker). For an
 *     empty stream (begin, then finish) a format may write anything, including nothing.
 */
typedef struct gw_format_vtable {
  uint32_t struct_size;
  const char *name;       /* matched case-insensitively by requests, e.g. "arrow"; static */
  const char *media_type; /* Content-Type of the output, e.g. "application/vnd.apache.arrow.stream"; static */
  gw_status (*open)(gw_host_ctx *ctx, const char *config_json, size_t config_len,
                    const gw_byte_sink *sink, void **instance, gw_error *err);
  gw_status (*begin)(void *instance, const struct ArrowSchema *schema, gw_error *err);
  gw_status (*write_batch)(void *instance, const struct ArrowArray *batch, gw_error *err);
  gw_status (*finish)(void *instance, gw_error *err);
  void (*close)(void *instance);
} gw_format_vtable;

/*
 * EXPORTER: writes a stream of batches into one or more files.
 * The host calls: open → begin(schema) → write_batch(batch)* → finish → close, with the
 * same borrowing rules as FORMAT.
 *   - `output_dir` (borrowed, NUL-terminated) is an empty directory created by the host
 *     for this export; `base_name` (borrowed) is the file name to use, without extension.
 *   - Every regular file in output_dir after a GW_OK finish() is part of the result (a
 *     large export may write base_name-1.xlsx, base_name-2.xlsx, ...); keep scratch files
 *     elsewhere or delete them before finish returns.
 *   - After a failure or cancellation the host deletes output_dir.
 */
typedef struct gw_exporter_vtable {
  uint32_t struct_size;
  const char *name;           /* matched case-insensitively by requests, e.g. "XLSX"; static */
  const char *file_extension; /* without dot, e.g. "xlsx"; static */
  gw_status (*open)(gw_host_ctx *ctx, const char *config_json, size_t config_len,
                    const char *output_dir, const char *base_name, void **instance,
                    gw_error *err);
  gw_status (*begin)(void *instance, const struct ArrowSchema *schema, gw_error *err);
  gw_status (*write_batch)(void *instance, const struct ArrowArray *batch, gw_error *err);
  gw_status (*finish)(void *instance, gw_error *err);
  void (*close)(void *instance);
} gw_exporter_vtable;

/*
 * SINK (ABI 1.2): writes a stream of batches into a destination (an API, a database, a
 * queue). The host calls: open → begin(schema) → write_batch(batch)* → commit → close, or,
 * when the run fails or is cancelled after begin: ... → abort → close.
 *   - `schema` and each `batch` are borrowed, as for FORMAT.
 *   - write_batch() hands rows over. The sink may deliver them at once or buffer some; it
 *     returns an error status when the destination refused the batch as a whole or could
 *     not be reached (GW_UNAVAILABLE, GW_RATE_LIMITED: the host may retry the whole run;
 *     GW_INVALID_ARGUMENT, GW_AUTH, GW_INVALID_CONFIG: it will not). Rows the destination
 *     refused one by one are reported with host->reject_row() and are not an error.
 *   - commit() delivers whatever is still buffered and returns GW_OK only when EVERY row
 *     written since begin() has been durably accepted by the destination (or reported
 *     rejected). It is the promise the host builds on: only after commit() returned GW_OK
 *     does the host call the source's finish(), so a cursor never moves past rows that did
 *     not arrive.
 *   - abort() says the run will not commit: drop what is buffered, undo what the
 *     destination lets you undo (a transaction), send nothing more. It cannot fail. Rows a
 *     destination without transactions accepted before abort() stay there: a sink that can
 *     meet them again on the next run (the source's cursor did not move) says in its docs
 *     how it avoids writing them twice (e.g. remembering accepted ids in host state).
 *   - Retrying a single request (a timeout, a 5xx, a 429) is the sink's own business, inside
 *     the call, with host->pace() and host->is_cancelled(); the host retries only whole runs.
 */
typedef struct gw_sink_vtable {
  uint32_t struct_size;
  gw_status (*open)(gw_host_ctx *ctx, const char *config_json, size_t config_len,
                    void **instance, gw_error *err);
  gw_status (*begin)(void *instance, const struct ArrowSchema *schema, gw_error *err);
  gw_status (*write_batch)(void *instance, const struct ArrowArray *batch, gw_error *err);
  gw_status (*commit)(void *instance, gw_error *err);
  void (*abort)(void *instance);
  void (*close)(void *instance);
} gw_sink_vtable;

/* ========================================================================================
 * The descriptor: what the plugin is. Returned by the entry point; it and every string
 * and table it points to are owned by the plugin and must stay valid and unchanged for
 * the life of the process (static storage is the natural choice; the host never unloads
 * a plugin).
 * ======================================================================================== */
typedef struct gw_plugin_descriptor {
  uint32_t struct_size; /* sizeof(gw_plugin_descriptor) as the plugin compiled it */
  uint16_t abi_major;   /* GW_ABI_MAJOR the plugin was built against */
  uint16_t abi_minor;   /* GW_ABI_MINOR the plugin was built against */

  const char *id;          /* unique id: lower-case [a-z0-9._-], 1..64 chars, e.g. "acme.orders" */
  const char *version;     /* the plugin's own version, e.g. "1.2.0" */
  const char *description; /* one sentence for humans */
  uint32_t kinds;          /* GW_KIND_* bits; at least one */

  /* JSON Schema (an object schema) of the instance configuration. A property carrying
   * "secret": true holds a credential: the host never logs or returns its value. */
  const char *config_schema_json;
  /* A configuration that is valid for this plugin and needs nothing outside the machine,
   * used by `gateway plugins verify` to exercise the happy path; NULL if none. */
  const char *example_config_json;

  /* One table per kind in `kinds`, NULL for the others. */
  const gw_source_vtable *source;
  const gw_format_vtable *format;
  const gw_exporter_vtable *exporter;

  /* ---- ABI 1.2 ---- */
  const gw_sink_vtable *sink;
} gw_plugin_descriptor;

/*
 * The entry point every plugin exports (with GW_EXPORT or its equivalent).
 *
 * Called once per loaded image, from one thread, before any other call. `host` is valid
 * for the life of the process; keep the pointer. On success return the descriptor. On
 * failure return NULL and write the reason into `err` (allocated by the host).
 */
typedef const gw_plugin_descriptor *(*gw_plugin_init_fn)(const gw_host_api *host, gw_error *err);

/* Declared for C and C++ authors, so the compiler checks their definition. Swift sees only
 * the typedef above: a Swift plugin defines the symbol with @_cdecl. */
#if !defined(__swift__)
GW_EXPORT const gw_plugin_descriptor *gw_plugin_init_v1(const gw_host_api *host, gw_error *err);
#endif

#ifdef __cplusplus
}
#endif

#endif /* GATEWAY_PLUGIN_H */
