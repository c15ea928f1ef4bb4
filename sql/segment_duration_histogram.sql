-- Histogram of segment durations, in whole seconds.
-- Columns: seconds_from (the bin is [seconds_from, seconds_from + 1)), segments, hours.
SELECT
  floor(duration_ms / 1000) AS seconds_from,
  count(*) AS segments,
  round(sum(duration_ms) / 3600000.0, 4) AS hours
FROM segments
GROUP BY 1
ORDER BY 1
