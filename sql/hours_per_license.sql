-- Hours per license: aligned segments, and how many of them the release kept.
-- Columns: license, segments, hours, released_segments, released_hours.
SELECT
  s.license,
  count(*) AS segments,
  round(sum(s.duration_ms) / 3600000.0, 4) AS hours,
  count(r.segment_id) AS released_segments,
  round(coalesce(sum(CASE WHEN r.segment_id IS NOT NULL THEN s.duration_ms END), 0) / 3600000.0, 4)
    AS released_hours
FROM segments s
LEFT JOIN release r ON r.segment_id = s.segment_id
GROUP BY s.license
ORDER BY hours DESC, s.license
