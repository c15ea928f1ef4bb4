-- Files and hours from catalog to release, step by step (the report's funnel).
-- Catalog files have no duration until decode measures them (hours is NULL).
-- Columns: step_order, step, files, hours (a double).
SELECT 1 AS step_order, 'catalog' AS step, count(*) AS files, CAST(NULL AS DOUBLE) AS hours
FROM catalog
UNION ALL
SELECT 2, 'decoded', count(*), coalesce(sum(duration_ms), 0) / 3.6e6
FROM audio
UNION ALL
SELECT 3, 'aligned cues', count(DISTINCT audio_id), coalesce(sum(end_ms - start_ms), 0) / 3.6e6
FROM alignments
UNION ALL
SELECT 4, 'segments', count(DISTINCT audio_id), coalesce(sum(duration_ms), 0) / 3.6e6
FROM segments
UNION ALL
SELECT 5, 'released', count(DISTINCT audio_id), coalesce(sum(duration_ms), 0) / 3.6e6
FROM release
ORDER BY step_order
