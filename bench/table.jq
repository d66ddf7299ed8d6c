# table.jq - the printed table of bench/run.sh, from results/latest.json:
#   jq -r -f bench/table.jq bench/results/latest.json

def r(d): if . == null then "-" elif type == "number" then (. * pow(10; d) | round / pow(10; d) | tostring) else tostring end;
def padr(n): tostring | if length >= n then . else . + (" " * (n - length)) end;
def padl(n): tostring | if length >= n then . else (" " * (n - length)) + . end;
def row(a; b; c; d; e): "  " + (a | padr(44)) + (b | padl(11)) + (c | padl(11)) + "   " + (d | padr(16)) + (e | tostring);
def x(d): if . == null then "-" else (r(d) + "x") end;
def ms2(o): (o.ms.p50 | r(1)) + "/" + (o.ms.p99 | r(0));

. as $j
| .baseline as $b | .limit as $l | .previewd.http as $h | (.previewd.file // {}) as $f
| [
  "previewd benchmark - " + (.meta.when) + ", commit " + .meta.previewd_commit
    + (if .meta.service_files_modified > 0 then " (+" + (.meta.service_files_modified | tostring) + " uncommitted service files)" else "" end)
    + ", " + (.meta.cpus | tostring) + " CPUs, " + (if .meta.quick then "QUICK run" else "full run" end)
    + ", " + (.meta.runtime_s | r(0)) + " s, 1-min load " + (.meta.loadavg_start | tostring) + " -> " + (.meta.loadavg_end | tostring),
  "  http: git http-backend behind lighttpd with basic auth on loopback; file: file:// remotes. Latencies in ms (p50/p99).",
  "",
  row("figure"; "http"; "file"; "vs baseline"; "vs limit"),
  row("baseline gitcli-flow.sh, " + ($b.http.envs | tostring) + " envs: ms/env"; $b.http.ms_per_env | r(1); $b.file.ms_per_env | r(1); "1x"; ""),
  row("  envs/s"; $b.http.envs_per_s | r(1); $b.file.envs_per_s | r(1); "1x"; ""),
  row("limit: plain git push (" + ($l.http.pushes | tostring) + "), p50/p99"; ms2($l.http); (if $l.file then ms2($l.file) else "-" end); ""; "1x"),
  row("create, sequential (" + ($h.create_seq.count | tostring) + "), p50/p99"; ms2($h.create_seq); (if $f.create_seq then ms2($f.create_seq) else "-" end);
      (($b.http.ms_per_env / $h.create_seq.ms.p50) | x(2)) + " faster";
      ($h.create_seq.ms.p50 / $l.http.ms.p50) | x(2)),
  row("  statuses (http)"; $h.create_seq.statuses | tojson; ""; ""; ""),
  ((["c16", 16], ["c64", 64]) as [$k, $c]
  | ("create_" + $k) as $key
  | ( row("create, " + ($c | tostring) + " clients (" + ($h[$key].count | tostring) + "): envs/s"; $h[$key].envs_per_s | r(1); $f[$key].envs_per_s | r(1);
          (($h[$key].envs_per_s / $b.http.envs_per_s) | x(1)); ""),
      row("  p50/p99"; ms2($h[$key]); (if $f[$key] then ms2($f[$key]) else "-" end); ""; ""),
      row("  commits on the server"; $h[$key].commits; $f[$key].commits | r(0); ""; ""))),
  row("delete, sequential (" + ($h.delete_seq.count | tostring) + "), p50/p99"; ms2($h.delete_seq); (if $f.delete_seq then ms2($f.delete_seq) else "-" end);
      (($b.http.ms_per_env / $h.delete_seq.ms.p50) | x(2)) + " faster"; ($h.delete_seq.ms.p50 / $l.http.ms.p50) | x(2)),
  row("delete, 64 clients (" + ($h.delete_c64.count | tostring) + "): envs/s"; $h.delete_c64.envs_per_s | r(1); $f.delete_c64.envs_per_s | r(1);
      (($h.delete_c64.envs_per_s / $b.http.envs_per_s) | x(1)); ""),
  row("  p50/p99"; ms2($h.delete_c64); (if $f.delete_c64 then ms2($f.delete_c64) else "-" end); ""; ""),
  row("  commits on the server"; $h.delete_c64.commits; $f.delete_c64.commits | r(0); ""; ""),
  row("reap of " + ($h.reap.envs | tostring) + " expired envs: s to gone from Git"; $h.reap.seconds | r(2); ""; ""; ""),
  row("  commits"; $h.reap.commits; ""; ""; ""),
  row("sleep " + ($h.sleep_boundary.envs | tostring) + " envs at one boundary: s until all in Git"; $h.sleep_boundary.seconds | r(2); ""; ""; ""),
  row("  commits"; $h.sleep_boundary.commits; ""; ""; ""),
  ($h.scale[] | (row("create p50/p99 with " + (.envs_before | tostring) + " envs"; ms2(.create_seq); ""; ""; (.create_seq.ms.p50 / $l.http.ms.p50) | x(2)),
                  row("  git push adding a folder there, p50/p99"; (if .limit_folder_push then ms2(.limit_folder_push) else "-" end); ""; "";
                      (if .create_vs_push then (.create_vs_push | x(2)) + " (create/push)" else "" end)),
                  row("  peak RSS MiB after fill, after creates"; (.resources_after_fill.rss_peak_mib | r(1)) + ", " + (.resources_after_creates.rss_peak_mib | r(1)); ""; ""; ""))),
  row("  ratio p50 largest/smallest"; ($h.scale[-1].create_seq.ms.p50 / $h.scale[0].create_seq.ms.p50) | x(2); ""; ""; ""),
  ($h.scale[] | row("  fill to " + (.envs_before | tostring) + ": async accepted/s, pushed/s"; (.fill.accept_rps | r(0)) + ", " + (.fill.pushed_per_s | r(0)); ""; ""; "")),
  row("GET one (" + ($h.reads.envs | tostring) + " envs, c32): req/s"; $h.reads.get_one_c32.rps | r(0); ""; ""; ""),
  row("  p50/p99"; ms2($h.reads.get_one_c32); ""; ""; ""),
  row("list of 100, 1 connection: p50/p99"; (($h.reads.list100_c1.ms.p50 | r(2)) + "/" + ($h.reads.list100_c1.ms.p99 | r(2))); ""; ""; ""),
  row("  req/s"; $h.reads.list100_c1.rps | r(0); ""; ""; ""),
  row("list of 100, 32 connections: req/s"; $h.reads.list100_c32.rps | r(0); ""; ""; ""),
  row("  p50/p99"; ms2($h.reads.list100_c32); ""; ""; ""),
  row("GET one under a slow-loris (30 held, c1): p50/p99"; (if $h.reads.get_one_loris then (($h.reads.get_one_loris.ms.p50 | r(2)) + "/" + ($h.reads.get_one_loris.ms.p99 | r(2))) else "-" end); ""; ""; ""),
  row("  slow clients still held at the end"; $h.reads.get_one_loris.slow_clients_held; ""; ""; ""),
  row("peak RSS MiB at " + ($h.resources_at_top.envs | tostring) + " envs (after reads)"; $h.resources_at_top.rss_peak_mib | r(1); ""; ""; ""),
  row("  CPU s of that previewd (fill+scale+reads)"; $h.resources_at_top.cpu_s | r(1); ""; ""; ""),
  row("  data dir MiB at " + ($h.resources_at_top.envs | tostring) + " envs (bytes, on disk)"; (($h.resources_at_top.data_dir_bytes / 1048576) | r(1)) + ", " + (($h.resources_at_top.data_dir_disk_bytes / 1048576) | r(1)); ""; ""; ""),
  row("  clone.git there: loose objects, packs"; ($h.resources_at_top.clone_objects.count | tostring) + ", " + ($h.resources_at_top.clone_objects.packs | tostring); ""; ""; ""),
  row("peak RSS MiB / CPU s, writes instance"; ($h.resources.rss_peak_mib | r(1)) + " / " + ($h.resources.cpu_s | r(1));
      (if $f.resources then ($f.resources.rss_peak_mib | r(1)) + " / " + ($f.resources.cpu_s | r(1)) else "-" end); ""; ""),
  row(($h.cycles.cycles | tostring) + " create/delete cycles (c64): cycles/s"; ($h.cycles.cycles / ($h.cycles.run.elapsed_s + $h.cycles.run_after_window.elapsed_s)) | r(1); ""; ""; ""),
  row("  commits"; $h.cycles.commits; ""; ""; ""),
  row("  data dir MiB before -> after"; (($h.cycles.data_dir_bytes_before / 1048576) | r(2)) + " -> " + (($h.cycles.data_dir_bytes_after / 1048576) | r(2)); ""; ""; ""),
  row("  same, allocated on disk"; (($h.cycles.data_dir_disk_bytes_before / 1048576) | r(2)) + " -> " + (($h.cycles.data_dir_disk_bytes_after / 1048576) | r(2)); ""; ""; ""),
  row("  bytes per cycle (db " + (($h.cycles.db_bytes / 1048576) | r(1)) + " MiB, wal " + (($h.cycles.wal_bytes / 1048576) | r(1)) + " MiB)"; $h.cycles.bytes_per_cycle | r(0); ""; ""; ""),
  row("  after the " + ($h.cycles.retention_s | tostring) + " s retention window: data dir bytes per cycle"; $h.cycles.bytes_per_cycle_after_window | r(0); ""; ""; ""),
  row("  same, previewd.db bytes per cycle"; $h.cycles.db_bytes_per_cycle_after_window | r(0); ""; ""; ""),
  row("  clone.git: loose objects, packs"; ($h.cycles.clone_objects.count | tostring) + ", " + ($h.cycles.clone_objects.packs | tostring); ""; ""; ""),
  row("  clone.git MiB vs server repo MiB"; (($h.cycles.clone_bytes / 1048576) | r(2)) + " vs " + (($h.cycles.server_repo_bytes / 1048576) | r(2)); ""; ""; ""),
  row("  peak RSS MiB / CPU s"; ($h.cycles.resources.rss_peak_mib | r(1)) + " / " + ($h.cycles.resources.cpu_s | r(1)); ""; ""; ""),
  row("create flood (c8, rate limit on): POSTs/s"; $j.flood.posts_per_s | r(0); ""; ""; ""),
  row("  statuses"; $j.flood.posts.statuses | tojson; ""; ""; ""),
  row("  creates that passed (bucket allows)"; ($j.flood.created | tostring) + " (" + ($j.flood.created_allowed | tostring) + ")"; ""; ""; ""),
  row("  GET one c1 alone / under the flood: p99"; ($j.flood.get_quiet.ms.p99 | r(2)) + " / " + ($j.flood.get_under_flood.ms.p99 | r(2)); ""; ""; ""),
  "",
  "targets:",
  (.targets[] | "  " + (if .pass then "PASS" else "MISS" end) + "  " + (.target | padr(72)) + "  " + (.value | r(3)) + " (limit " + (.limit | r(3)) + ")"),
  "",
  "  " + ([.targets[] | select(.pass)] | length | tostring) + " of " + (.targets | length | tostring) + " targets met"
    + (if .meta.quick then " (QUICK run: sizes are tiny, the targets are not meaningful)" else "" end)
  ]
| .[]
