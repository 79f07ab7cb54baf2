/*
 * gateway_plugin_fake_host.h: a host table without the gateway, to unit-test a C plugin.
 *
 * Like Envoy's sdk_fake.h: include it in a test program (one translation unit), beside your
 * plugin's source, and call your plugin's entry point with `&host.api`:
 *
 *     gw_fake_host host;
 *     gw_fake_host_init(&host);
 *     gw_error err = {{0}};
 *     const gw_plugin_descriptor *d = gw_plugin_init_v1(&host.api, &err);
 *     void *instance;
 *     d->sink->open(gw_fake_ctx(&host), cfg, strlen(cfg), &instance, &err);
 *     ...                                   // then read host.log, host.rejected, host.state
 *     gw_fake_host_free(&host);
 *
 * What each service does here (one instance's context; no threads, no network):
 *   log                  appends "LEVEL message\n" to host.log (and to stderr with
 *                        host.echo_log set);
 *   http_request         calls host.http (your function) if set, else GW_UNAVAILABLE;
 *                        the response it fills is released by http_response_release;
 *   state_*, shared_*    an in-memory table (instance and shared state kept apart);
 *   progress             kept in host.progress_done / progress_total;
 *   is_cancelled         host.cancelled (set it to test your cancellation path);
 *   shared_lock/unlock   counted (host.locks_held), never blocks;
 *   pace                 counted (host.paced), never waits;
 *   reject_row           appends the row to host.rejected (up to GW_FAKE_MAX_REJECTED).
 * Ownership as in gateway_plugin.h: every gw_bytes / gw_http_response it hands out is the
 * plugin's to release with bytes_release / http_response_release, exactly once.
 */
#ifndef GATEWAY_PLUGIN_FAKE_HOST_H
#define GATEWAY_PLUGIN_FAKE_HOST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_plugin.h"

#define GW_FAKE_MAX_REJECTED 1024

typedef struct gw_fake_entry {
  char *key;
  uint8_t *value;
  size_t len;
  int shared;
  struct gw_fake_entry *next;
} gw_fake_entry;

typedef struct gw_fake_host {
  gw_host_api api;
  /* What the plugin did, for the test to check. */
  char *log;
  size_t log_len;
  int echo_log;
  int64_t progress_done, progress_total;
  int cancelled;
  int locks_held;
  int paced;
  int64_t rejected[GW_FAKE_MAX_REJECTED];
  size_t n_rejected;
  gw_fake_entry *state;
  /* Answers http_request when set: fill `out` (status, headers, body: the fake frees the body
   * it gets from malloc) and return GW_OK, or return an error status. */
  gw_status (*http)(const gw_http_request *request, gw_http_response *out, gw_error *err);
} gw_fake_host;

/* The context a plugin instance gets: the fake host itself. */
static inline gw_host_ctx *gw_fake_ctx(gw_fake_host *host) { return (gw_host_ctx *)(void *)host; }
static inline gw_fake_host *gw_fake_from(gw_host_ctx *ctx) { return (gw_fake_host *)(void *)ctx; }

static void gw_fake_set_error(gw_error *err, const char *message) {
  if (err) snprintf(err->message, GW_ERROR_MESSAGE_SIZE, "%s", message);
}

static void gw_fake_log(gw_host_ctx *ctx, int32_t level, const char *message) {
  gw_fake_host *h = gw_fake_from(ctx);
  static const char *names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  const char *name = level >= 0 && level <= 3 ? names[level] : "?";
  size_t add = strlen(name) + strlen(message ? message : "") + 2;
  char *grown = realloc(h->log, h->log_len + add + 1);
  if (!grown) return;
  h->log = grown;
  h->log_len += (size_t)snprintf(h->log + h->log_len, add + 1, "%s %s\n", name, message ? message : "");
  if (h->echo_log) fprintf(stderr, "%s %s\n", name, message ? message : "");
}

static gw_status gw_fake_http(gw_host_ctx *ctx, const gw_http_request *request, gw_http_response *out, gw_error *err) {
  gw_fake_host *h = gw_fake_from(ctx);
  if (!request || !out) {
    gw_fake_set_error(err, "no request or no response to fill");
    return GW_INVALID_ARGUMENT;
  }
  memset(out, 0, sizeof *out);
  if (!h->http) {
    gw_fake_set_error(err, "the fake host has no network (set host.http)");
    return GW_UNAVAILABLE;
  }
  return h->http(request, out, err);
}

static void gw_fake_http_release(gw_http_response *response) {
  if (!response) return;
  free((void *)response->body);
  memset(response, 0, sizeof *response);
}

static char *gw_fake_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = malloc(n);
  if (copy) memcpy(copy, s, n);
  return copy;
}

static gw_fake_entry *gw_fake_find(gw_fake_host *h, const char *key, int shared) {
  for (gw_fake_entry *e = h->state; e; e = e->next)
    if (e->shared == shared && strcmp(e->key, key) == 0) return e;
  return NULL;
}

static gw_status gw_fake_get(gw_host_ctx *ctx, const char *key, gw_bytes *out, gw_error *err, int shared) {
  gw_fake_entry *e = key ? gw_fake_find(gw_fake_from(ctx), key, shared) : NULL;
  if (!e) {
    gw_fake_set_error(err, "no such key");
    return GW_NOT_FOUND;
  }
  uint8_t *copy = malloc(e->len ? e->len : 1);
  if (!copy) return GW_INTERNAL;
  memcpy(copy, e->value, e->len);
  out->data = copy;
  out->len = e->len;
  out->host_private = copy;
  return GW_OK;
}

static gw_status gw_fake_set(gw_host_ctx *ctx, const char *key, const uint8_t *value, size_t len, gw_error *err, int shared) {
  gw_fake_host *h = gw_fake_from(ctx);
  if (!key) {
    gw_fake_set_error(err, "no key");
    return GW_INVALID_ARGUMENT;
  }
  gw_fake_entry *e = gw_fake_find(h, key, shared);
  if (!e) {
    e = calloc(1, sizeof *e);
    if (!e || !(e->key = gw_fake_strdup(key))) {
      free(e);
      return GW_INTERNAL;
    }
    e->shared = shared;
    e->next = h->state;
    h->state = e;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return GW_INTERNAL;
  if (len) memcpy(copy, value, len);
  free(e->value);
  e->value = copy;
  e->len = len;
  return GW_OK;
}

static gw_status gw_fake_state_get(gw_host_ctx *ctx, const char *key, gw_bytes *out, gw_error *err) {
  return gw_fake_get(ctx, key, out, err, 0);
}
static gw_status gw_fake_state_set(gw_host_ctx *ctx, const char *key, const uint8_t *value, size_t len, gw_error *err) {
  return gw_fake_set(ctx, key, value, len, err, 0);
}
static gw_status gw_fake_shared_get(gw_host_ctx *ctx, const char *key, gw_bytes *out, gw_error *err) {
  return gw_fake_get(ctx, key, out, err, 1);
}
static gw_status gw_fake_shared_set(gw_host_ctx *ctx, const char *key, const uint8_t *value, size_t len, gw_error *err) {
  return gw_fake_set(ctx, key, value, len, err, 1);
}

static gw_status gw_fake_state_delete(gw_host_ctx *ctx, const char *key, gw_error *err) {
  (void)err;
  gw_fake_host *h = gw_fake_from(ctx);
  for (gw_fake_entry **at = &h->state; *at; at = &(*at)->next) {
    if (!(*at)->shared && key && strcmp((*at)->key, key) == 0) {
      gw_fake_entry *gone = *at;
      *at = gone->next;
      free(gone->key);
      free(gone->value);
      free(gone);
      break;
    }
  }
  return GW_OK;
}

static void gw_fake_bytes_release(gw_bytes *bytes) {
  if (!bytes) return;
  free(bytes->host_private);
  memset(bytes, 0, sizeof *bytes);
}

static void gw_fake_progress(gw_host_ctx *ctx, int64_t done, int64_t total, const char *message) {
  (void)message;
  gw_fake_host *h = gw_fake_from(ctx);
  h->progress_done = done;
  h->progress_total = total;
}

static int32_t gw_fake_is_cancelled(gw_host_ctx *ctx) { return gw_fake_from(ctx)->cancelled ? 1 : 0; }

static gw_status gw_fake_lock(gw_host_ctx *ctx, const char *name, uint32_t timeout_ms, gw_error *err) {
  (void)name, (void)timeout_ms, (void)err;
  gw_fake_from(ctx)->locks_held++;
  return GW_OK;
}

static void gw_fake_unlock(gw_host_ctx *ctx, const char *name) {
  (void)name;
  gw_fake_from(ctx)->locks_held--;
}

static gw_status gw_fake_pace(gw_host_ctx *ctx, const char *bucket, uint32_t per_second, uint32_t per_minute, gw_error *err) {
  (void)bucket, (void)per_second, (void)per_minute, (void)err;
  gw_fake_from(ctx)->paced++;
  return gw_fake_from(ctx)->cancelled ? GW_CANCELLED : GW_OK;
}

static void gw_fake_reject_row(gw_host_ctx *ctx, int64_t row, const char *reason) {
  (void)reason;
  gw_fake_host *h = gw_fake_from(ctx);
  if (h->n_rejected < GW_FAKE_MAX_REJECTED) h->rejected[h->n_rejected++] = row;
}

static void gw_fake_host_init(gw_fake_host *host) {
  memset(host, 0, sizeof *host);
  host->api.struct_size = (uint32_t)sizeof host->api;
  host->api.abi_major = GW_ABI_MAJOR;
  host->api.abi_minor = GW_ABI_MINOR;
  host->api.log = gw_fake_log;
  host->api.http_request = gw_fake_http;
  host->api.http_response_release = gw_fake_http_release;
  host->api.state_get = gw_fake_state_get;
  host->api.state_set = gw_fake_state_set;
  host->api.state_delete = gw_fake_state_delete;
  host->api.bytes_release = gw_fake_bytes_release;
  host->api.progress = gw_fake_progress;
  host->api.is_cancelled = gw_fake_is_cancelled;
  host->api.shared_lock = gw_fake_lock;
  host->api.shared_unlock = gw_fake_unlock;
  host->api.shared_state_get = gw_fake_shared_get;
  host->api.shared_state_set = gw_fake_shared_set;
  host->api.pace = gw_fake_pace;
  host->api.reject_row = gw_fake_reject_row;
}

static void gw_fake_host_free(gw_fake_host *host) {
  free(host->log);
  while (host->state) {
    gw_fake_entry *next = host->state->next;
    free(host->state->key);
    free(host->state->value);
    free(host->state);
    host->state = next;
  }
  memset(host, 0, sizeof *host);
}

#endif /* GATEWAY_PLUGIN_FAKE_HOST_H */
