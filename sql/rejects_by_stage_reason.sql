-- What each stage dropped, and why: rows and distinct source items per reason.
-- Columns: stage, reason, rows, sources.
SELECT
  stage,
  reason,
  count(*) AS rows,
  count(DISTINCT identifier) AS sources
FROM rejects
GROUP BY stage, reason
ORDER BY stage, rows DESC, reason
