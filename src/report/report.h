/* The self-contained HTML report of a run folder or a sweep folder (docs/report.md): one file with
 * inline CSS and SVG figures (images as PNG data URIs), no network access. Each section reads the
 * files it needs if they exist and is left out otherwise. */
#pragma once

/* Writes the report of dir (a run: metrics.jsonl/config.json; a sweep: sub-folders that are runs)
 * to out_path (NULL: dir/report.html), atomically. -1 + ml_error if dir holds neither. */
int report_write(const char *dir, const char *out_path);
