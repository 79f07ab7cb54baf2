/* The peer: libxlsxwriter in constant-memory mode, the same rows and columns.
 *   xlsx_peer ROWS OUTPUT.xlsx */
#include <stdio.h>
#include <stdlib.h>
#include "xlsxwriter.h"

int main(int argc, char **argv) {
  long rows = argc > 1 ? atol(argv[1]) : 1000000;
  lxw_workbook_options options = {.constant_memory = LXW_TRUE, .tmpdir = NULL};
  lxw_workbook *wb = workbook_new_opt(argc > 2 ? argv[2] : "peer.xlsx", &options);
  lxw_worksheet *ws = workbook_add_worksheet(wb, NULL);
  char name[16], text[32];
  for (int c = 0; c < 10; c++) {
    snprintf(name, sizeof name, "col%d", c);
    worksheet_write_string(ws, 0, c, name, NULL);
  }
  for (long r = 0; r < rows; r++) {
    for (int c = 0; c < 10; c++) {
      if (c % 4 == 0) worksheet_write_number(ws, r + 1, c, (double)(r * 7 + c), NULL);
      else if (c % 4 == 2) worksheet_write_number(ws, r + 1, c, r * 1.25 + c, NULL);
      else {
        snprintf(text, sizeof text, "s%ld-%d", r % 1000, c);
        worksheet_write_string(ws, r + 1, c, text, NULL);
      }
    }
  }
  return workbook_close(wb) == LXW_NO_ERROR ? 0 : 1;
}
