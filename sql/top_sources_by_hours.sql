-- The 20 sources that give the most hours of segments, with their title and license.
-- Columns: identifier, title, license, segments, hours.
WITH titles AS (
  SELECT identifier, min(title) AS title FROM catalog GROUP BY identifier
)
SELECT
  s.identifier,
  t.title,
  min(s.license) AS license,
  count(*) AS segments,
  round(sum(s.duration_ms) / 3600000.0, 4) AS hours
FROM segments s
LEFT JOIN titles t ON t.identifier = s.identifier
GROUP BY s.identifier, t.title
ORDER BY hours DESC, s.identifier
LIMIT 20
