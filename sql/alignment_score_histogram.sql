-- Histogram of ctc-segmentation scores of aligned cues, in bins of 0.5.
-- Columns: score_from (the bin is [score_from, score_from + 0.5)), cues.
SELECT
  floor(score / 0.5) * 0.5 AS score_from,
  count(*) AS cues
FROM alignments
GROUP BY 1
ORDER BY 1
