-- Is every catalog row accounted for? Each kept audio file must end with
-- segments, or in `rejects` as a whole file (any stage, by its audio_id, with
-- no cue_index: a rejected cue does not account for its file). Any other file
-- is "unaccounted", with the last table it reached: none should remain after
-- a complete run (on a partial run they show how far it got). The last row
-- counts the files ingest refused before they got into the catalog (license,
-- pairing, unreadable subtitles): they are only in rejects.
-- Columns: status, files.
WITH segmented AS (
  SELECT DISTINCT audio_id FROM segments
),
rejected AS (
  SELECT audio_id, min(concat(stage, ':', reason)) AS why
  FROM rejects
  WHERE audio_id IS NOT NULL AND cue_index IS NULL
  GROUP BY audio_id
),
reached AS (
  SELECT audio_id, max(step) AS step FROM (
    SELECT DISTINCT audio_id, 1 AS step FROM chunks
    UNION ALL SELECT DISTINCT audio_id, 2 AS step FROM logits
    UNION ALL SELECT DISTINCT audio_id, 3 AS step FROM alignments
  ) GROUP BY audio_id
),
status AS (
  SELECT
    CASE
      WHEN s.audio_id IS NOT NULL THEN 'segments'
      WHEN r.why IS NOT NULL THEN concat('rejected ', r.why)
      ELSE concat('unaccounted: last in ',
                  CASE t.step WHEN 1 THEN 'chunks' WHEN 2 THEN 'logits'
                              WHEN 3 THEN 'alignments' ELSE 'catalog' END)
    END AS status
  FROM catalog c
  LEFT JOIN segmented s ON s.audio_id = c.audio_id
  LEFT JOIN rejected r ON r.audio_id = c.audio_id
  LEFT JOIN reached t ON t.audio_id = c.audio_id
)
SELECT status, count(*) AS files FROM status GROUP BY status
UNION ALL
SELECT 'not in catalog: refused at ingest' AS status, count(*) AS files
FROM (
  SELECT DISTINCT coalesce(identifier, '') AS identifier,
         coalesce(file_name, concat('catalog line ', CAST(line_number AS STRING))) AS file
  FROM rejects
  WHERE stage = 'ingest' AND cue_index IS NULL
    AND (audio_id IS NULL OR audio_id NOT IN (SELECT audio_id FROM catalog))
) refused
ORDER BY status
