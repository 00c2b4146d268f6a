//! The answers of a job's records: stored in batches, each with the job's counters in
//! one transaction; read back in input order to assemble the output files.

use super::{to_i64, to_u64};
use crate::BeginWrite;
use crate::{format_ts, with_pool, Store, StoreError};

/// One record's line of output, as it will appear in `<input>.jsonl.out`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordResult {
    /// Position of the record in the job (files in order, then lines).
    pub seq: u64,
    /// The input file it came from (its key under the input prefix).
    pub file: String,
    /// The whole output line (`{"recordId", "modelInput", "modelOutput" | "error"}`).
    pub output: String,
    pub ok: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Store {
    /// Stores answers of a job `owner` holds and adds them to its counters. A record
    /// already stored (answered before a takeover) is skipped and not counted again.
    /// Returns how many were new; `None` when `owner` no longer holds the job (nothing
    /// was written).
    pub async fn record_batch_results(
        &self,
        arn: &str,
        owner: &str,
        results: &[RecordResult],
        at: time::OffsetDateTime,
    ) -> Result<Option<u64>, StoreError> {
        const HELD: &str = "SELECT COUNT(*) FROM batch_jobs WHERE arn = $1 AND lease_owner = $2";
        const INSERT: &str = "INSERT INTO batch_records (job_arn, seq, file, output, ok, input_tokens, output_tokens) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (job_arn, seq) DO NOTHING";
        const COUNT: &str = "UPDATE batch_jobs SET processed_records = processed_records + $2, \
             success_records = success_records + $3, error_records = error_records + $4, \
             input_tokens = input_tokens + $5, output_tokens = output_tokens + $6, updated_at = $7 WHERE arn = $1";
        let at = format_ts(at)?;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let held: i64 = sqlx::query_scalar(HELD).bind(arn).bind(owner).fetch_one(&mut *tx).await?;
            if held == 0 {
                return Ok(None);
            }
            let (mut new, mut ok, mut input, mut output) = (0u64, 0u64, 0u64, 0u64);
            for r in results {
                let added = sqlx::query(INSERT)
                    .bind(arn)
                    .bind(to_i64(r.seq))
                    .bind(&r.file)
                    .bind(&r.output)
                    .bind(i64::from(r.ok))
                    .bind(to_i64(r.input_tokens))
                    .bind(to_i64(r.output_tokens))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if added == 1 {
                    new += 1;
                    ok += u64::from(r.ok);
                    input += r.input_tokens;
                    output += r.output_tokens;
                }
            }
            sqlx::query(COUNT)
                .bind(arn)
                .bind(to_i64(new))
                .bind(to_i64(ok))
                .bind(to_i64(new - ok))
                .bind(to_i64(input))
                .bind(to_i64(output))
                .bind(&at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(new))
        })
    }

    /// The positions of the records of a job answered so far.
    pub async fn batch_answered(&self, arn: &str) -> Result<Vec<u64>, StoreError> {
        const SQL: &str = "SELECT seq FROM batch_records WHERE job_arn = $1 ORDER BY seq";
        let seqs: Vec<i64> = with_pool!(self, |pool| sqlx::query_scalar(SQL).bind(arn).fetch_all(pool).await?);
        Ok(seqs.into_iter().map(to_u64).collect())
    }

    /// A page of the output lines of one input file, in input order, from position
    /// `after` on (exclusive; `None` from the start): (seq, line).
    pub async fn batch_output_page(
        &self,
        arn: &str,
        file: &str,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        const SQL: &str = "SELECT seq, output FROM batch_records WHERE job_arn = $1 AND file = $2 AND seq > $3 \
             ORDER BY seq LIMIT $4";
        let after = after.map_or(-1, to_i64);
        let rows: Vec<(i64, String)> = with_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(arn)
            .bind(file)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(|(seq, line)| (to_u64(seq), line)).collect())
    }
}
