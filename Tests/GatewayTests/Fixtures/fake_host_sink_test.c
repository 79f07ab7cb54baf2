/* A C plugin unit-tested without the gateway: fixture_sink.c (built beside this file) driven
 * through gateway_plugin_fake_host.h with a batch from the C helpers. Exits 0 when every
 * check holds; prints the first that does not. */
#include <stdio.h>
#include <string.h>

#include "gateway_plugin_fake_host.h"
#include "gateway_plugin_helpers.h"

#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "check failed, line %d: %s\n", __LINE__, #cond); \
      return 1;                                                      \
    }                                                                \
  } while (0)

int main(int argc, char **argv) {
  CHECK(argc == 2);
  gw_fake_host host;
  gw_fake_host_init(&host);
  gw_error err = {{0}};
  const gw_plugin_descriptor *d = gw_plugin_init_v1(&host.api, &err);
  CHECK(d && d->sink && strcmp(d->id, "fixture.sink") == 0);

  char config[600];
  snprintf(config, sizeof config, "{\"path\": \"%s\"}", argv[1]);
  void *instance = NULL;
  CHECK(d->sink->open(gw_fake_ctx(&host), config, strlen(config), &instance, &err) == GW_OK);

  const char *names[] = {"id", "qty"};
  const char *formats[] = {"l", "l"};
  gw_batch_builder b;
  CHECK(gw_batch_init(&b, 2, names, formats, &err) == GW_OK);
  for (int i = 0; i < 5; i++) {
    gw_append_int(&b, 0, i);
    gw_append_int(&b, 1, i == 3 ? -1 : i * 10);
  }
  struct ArrowSchema schema;
  struct ArrowArray batch;
  CHECK(gw_batch_schema(&b, &schema, &err) == GW_OK);
  CHECK(gw_batch_finish(&b, &batch, &err) == GW_OK);
  CHECK(d->sink->begin(instance, &schema, &err) == GW_OK);
  CHECK(d->sink->write_batch(instance, &batch, &err) == GW_OK);
  CHECK(d->sink->commit(instance, &err) == GW_OK);
  /* The destination refused row 3 (a negative qty), through the fake host's reject_row. */
  CHECK(host.n_rejected == 1 && host.rejected[0] == 3);
  d->sink->close(instance);
  batch.release(&batch);
  schema.release(&schema);
  gw_batch_free(&b);

  FILE *f = fopen(argv[1], "r");
  CHECK(f != NULL);
  int lines = 0;
  for (int c; (c = fgetc(f)) != EOF;) lines += c == '\n';
  fclose(f);
  CHECK(lines == 4);

  /* State, for any plugin: what one set, a get returns (and the caller releases). */
  CHECK(host.api.state_set(gw_fake_ctx(&host), "cursor", (const uint8_t *)"42", 2, &err) == GW_OK);
  gw_bytes value;
  CHECK(host.api.state_get(gw_fake_ctx(&host), "cursor", &value, &err) == GW_OK && value.len == 2 && memcmp(value.data, "42", 2) == 0);
  host.api.bytes_release(&value);
  CHECK(host.api.state_get(gw_fake_ctx(&host), "nothing", &value, &err) == GW_NOT_FOUND);
  gw_fake_host_free(&host);
  printf("ok\n");
  return 0;
}
