/* Compile-time checks that the ABI structs have the layout the header promises on the
 * 64-bit targets we ship for. A change here is a change of the ABI: bump its version. */
#include "gateway_plugin.h"

_Static_assert(sizeof(void *) == 8, "the gateway ABI is defined for 64-bit targets");
_Static_assert(sizeof(struct ArrowSchema) == 72, "ArrowSchema layout");
_Static_assert(sizeof(struct ArrowArray) == 80, "ArrowArray layout");
_Static_assert(sizeof(struct ArrowArrayStream) == 40, "ArrowArrayStream layout");
_Static_assert(sizeof(gw_error) == GW_ERROR_MESSAGE_SIZE, "gw_error layout");
_Static_assert(offsetof(gw_plugin_descriptor, abi_major) == 4, "descriptor header layout");
_Static_assert(offsetof(gw_host_api, abi_major) == 4, "host table header layout");
