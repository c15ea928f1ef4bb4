-- Is every catalog row accounted for? Each kept audio file must end with
-- segments, or in `rejects` (any stage, by its audio_id). "unaccounted" must
-- be absent. The last row counts the files ingest refused before they got an
-- audio_id (license, pairing, malformed catalog lines): they are only in rejects.
-- Columns: status, files.
WITH segmented AS (
  SELECT DISTINCT audio_id FROM segments
),
rejected AS (
  SELECT audio_id, min(concat(stage, ':', reason)) AS why
  FROM rejects
  WHERE audio_id IS NOT NULL
  GROUP BY audio_id
),
status AS (
  SELECT
    CASE
      WHEN s.audio_id IS NOT NULL THEN 'segments'
      WHEN r.why IS NOT NULL THEN concat('rejected ', r.why)
      ELSE 'unaccounted'
    END AS status
  FROM catalog c
  LEFT JOIN segmented s ON s.audio_id = c.audio_id
  LEFT JOIN rejected r ON r.audio_id = c.audio_id
)
SELECT status, count(*) AS files FROM status GROUP BY status
UNION ALL
SELECT 'not in catalog: rejected at ingest' AS status, count(*) AS files
FROM rejects
WHERE stage = 'ingest' AND audio_id IS NULL
ORDER BY status
