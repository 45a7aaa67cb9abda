-- wrk reporter: one machine-readable line after wrk's own summary, read by bench/measure.py.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%.0f,"bytes":%.0f,"duration_us":%.0f,"connect_errors":%.0f,'
      .. '"read_errors":%.0f,"write_errors":%.0f,"status_errors":%.0f,"timeouts":%.0f,'
      .. '"p50_us":%.0f,"p99_us":%.0f}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
