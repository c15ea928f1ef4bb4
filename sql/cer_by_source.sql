-- Character error rate of each source's segments, worst first: a source far
-- above the rest usually has subtitles that do not match its audio.
-- Columns: identifier, segments, hours, cer (duration-weighted mean), min_cer, max_cer.
SELECT
  identifier,
  count(*) AS segments,
  round(sum(duration_ms) / 3600000.0, 4) AS hours,
  round(sum(cer * duration_ms) / sum(duration_ms), 4) AS cer,
  min(cer) AS min_cer,
  max(cer) AS max_cer
FROM segments
GROUP BY identifier
ORDER BY cer DESC, identifier
