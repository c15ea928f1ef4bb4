-- Windows per length bucket, and how much of each bucket is zero padding.
-- The accelerator sees one static shape per bucket; padding is wasted compute.
-- Columns: bucket, bucket_seconds, windows, audio_hours (owned samples),
-- padded_hours (zeros after the audio and its context), padding_fraction.
SELECT
  bucket,
  first(bucket_samples) / 16e3 AS bucket_seconds,
  count(*) AS windows,
  round(sum(num_samples) / 16000.0 / 3600.0, 4) AS audio_hours,
  round(sum(bucket_samples - context_before_samples - num_samples - context_after_samples)
        / 16000.0 / 3600.0, 4) AS padded_hours,
  round(1.0 - sum(context_before_samples + num_samples + context_after_samples)
        / sum(bucket_samples), 4) AS padding_fraction
FROM chunks
GROUP BY bucket
ORDER BY bucket
