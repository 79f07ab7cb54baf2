/* Prints sizes and offsets of the ABI's structs, as the C compiler lays them out from
 * gateway_plugin.h: the Rust SDK's layout test compares its own against these. */
#include <stddef.h>
#include <stdio.h>
#include "gateway_plugin.h"

#define SIZE(t, name) printf("%s %zu\n", name, sizeof(t))
#define AT(t, f) printf("%s.%s %zu\n", #t, #f, offsetof(t, f))

int main(void) {
  SIZE(struct ArrowSchema, "ArrowSchema");
  SIZE(struct ArrowArray, "ArrowArray");
  SIZE(struct ArrowArrayStream, "ArrowArrayStream");
  SIZE(gw_error, "gw_error");
  SIZE(gw_http_header, "gw_http_header");
  SIZE(gw_http_request, "gw_http_request");
  AT(gw_http_request, body_len);
  AT(gw_http_request, timeout_ms);
  SIZE(gw_http_response, "gw_http_response");
  SIZE(gw_bytes, "gw_bytes");
  SIZE(gw_host_api, "gw_host_api");
  AT(gw_host_api, log);
  AT(gw_host_api, shared_lock);
  AT(gw_host_api, pace);
  AT(gw_host_api, reject_row);
  SIZE(gw_source_vtable, "gw_source_vtable");
  SIZE(gw_byte_sink, "gw_byte_sink");
  SIZE(gw_format_vtable, "gw_format_vtable");
  AT(gw_format_vtable, write_error);
  SIZE(gw_exporter_vtable, "gw_exporter_vtable");
  SIZE(gw_sink_vtable, "gw_sink_vtable");
  SIZE(gw_plugin_descriptor, "gw_plugin_descriptor");
  AT(gw_plugin_descriptor, kinds);
  AT(gw_plugin_descriptor, source);
  AT(gw_plugin_descriptor, sink);
  return 0;
}
