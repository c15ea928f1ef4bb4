-- Histogram of the character error rate of aligned cues, in bins of 0.05;
-- every CER of 1 or more is in the last bin (1.0).
-- Columns: cer_from (the bin is [cer_from, cer_from + 0.05)), cues.
SELECT
  least(floor(cer * 20), 20) / 20.0 AS cer_from,
  count(*) AS cues
FROM alignments
GROUP BY 1
ORDER BY 1
