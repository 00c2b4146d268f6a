//! The checks of CreateModelImportJob and of the two list operations, as the model
//! states them (patterns, lengths, enums), with Coral's words naming the member.

use spillway_catalog::provisioned::is_model_name;
use spillway_store::{ImportJobStatus, ListFilter};
use spillway_wire::{parse, BedrockError};

use super::source::{S3Uri, S3_URI_PATTERN};
use crate::control::paging;

const JOB_NAME: &str = "[a-zA-Z0-9](-*[a-zA-Z0-9\\+\\-\\.])*";
const MODEL_NAME: &str = "([0-9a-zA-Z][_-]?)+";
const ROLE_ARN: &str = "arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+";
const TOKEN: &str = "[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?";

fn pattern(field: &str, value: &str, pattern: &str, max: usize) -> BedrockError {
    let constraint =
        format!("Member must satisfy regular expression pattern: {pattern} and have length between 1 and {max}");
    parse::value_violation(field, value, &constraint)
}

/// `[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*`. `-` is in the group's class itself, so any
/// run of `[a-zA-Z0-9+\-.]` after an alphanumeric first character matches.
fn is_job_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

pub fn job_name(field: &str, name: &str) -> Result<(), BedrockError> {
    if name.chars().count() > 63 || !is_job_name(name) {
        return Err(pattern(field, name, JOB_NAME, 63));
    }
    Ok(())
}

pub fn model_name(field: &str, name: &str) -> Result<(), BedrockError> {
    if name.chars().count() > 63 || !is_model_name(name) {
        return Err(pattern(field, name, MODEL_NAME, 63));
    }
    Ok(())
}

/// Bedrock would assume this role to read the bucket; spillway reads its own object
/// store, so only the form is checked.
pub fn role_arn(arn: &str) -> Result<(), BedrockError> {
    let ok = arn.len() <= 2048
        && arn
            .split_once(":iam::")
            .filter(|(partition, _)| {
                *partition == "arn:aws"
                    || partition.strip_prefix("arn:aws-").is_some_and(|p| !p.is_empty() && !p.contains(':'))
            })
            .and_then(|(_, rest)| rest.split_once(":role/"))
            .is_some_and(|(account, role)| {
                (account.is_empty() || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
                    && !role.is_empty()
            });
    if !ok {
        return Err(pattern("roleArn", arn, ROLE_ARN, 2048));
    }
    Ok(())
}

pub fn s3_uri(uri: &str) -> Result<S3Uri, BedrockError> {
    S3Uri::parse(uri)
        .filter(|_| uri.len() <= 1024)
        .ok_or_else(|| pattern("modelDataSource.s3DataSource.s3Uri", uri, S3_URI_PATTERN, 1024))
}

pub fn client_token(token: &str) -> Result<(), BedrockError> {
    let bytes = token.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric();
    let ok = (1..=256).contains(&bytes.len())
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    if !ok {
        return Err(pattern("clientRequestToken", token, TOKEN, 256));
    }
    Ok(())
}

/// The query members both list operations share (strings, so bad values get Coral's
/// words rather than serde's).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    creation_time_after: Option<String>,
    creation_time_before: Option<String>,
    status_equals: Option<String>,
    name_contains: Option<String>,
    max_results: Option<String>,
    next_token: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

const TOKEN_PREFIX: &str = "import:";

pub fn encode_token(offset: u32) -> String {
    paging::encode_token(TOKEN_PREFIX, offset)
}

impl ListQuery {
    /// The store query, the status filter (jobs only: the models' list has none) and
    /// the page size. `jobs` picks the name pattern `nameContains` must match.
    pub fn into_query(self, jobs: bool) -> Result<(ListFilter, Option<ImportJobStatus>, u32), BedrockError> {
        let status = match (self.status_equals.as_deref(), jobs) {
            (None, _) => None,
            (Some(s), true) => Some(ImportJobStatus::parse(s).ok_or_else(|| {
                parse::value_violation(
                    "statusEquals",
                    s,
                    "Member must satisfy enum value set: [InProgress, Completed, Failed]",
                )
            })?),
            // Not a member of ListImportedModels: ignored, as unknown query members are.
            (Some(_), false) => None,
        };
        if let Some(name) = &self.name_contains {
            if jobs {
                job_name("nameContains", name)?
            } else {
                model_name("nameContains", name)?
            }
        }
        let params = paging::ListParams {
            times: paging::CREATION_TIME,
            name_contains: self.name_contains.as_deref(),
            time_after: self.creation_time_after.as_deref(),
            time_before: self.creation_time_before.as_deref(),
            sort_by: self.sort_by.as_deref(),
            sort_order: self.sort_order.as_deref(),
            max_results: self.max_results.as_deref(),
            next_token: self.next_token.as_deref(),
        };
        let query = paging::list_filter(params, TOKEN_PREFIX)?;
        let limit = query.limit;
        Ok((query, status, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_models_patterns() {
        for ok in ["job-1", "a", "Job.v2+x", "a--b"] {
            assert!(job_name("jobName", ok).is_ok(), "{ok}");
        }
        for bad in ["-job", "", "job_1", "job 1", &"a".repeat(64)] {
            let e = job_name("jobName", bad).unwrap_err();
            assert!(e.message.contains("'jobName'"), "{}", e.message);
        }
        assert!(model_name("importedModelName", "my_model-1").is_ok());
        assert!(model_name("importedModelName", "my__model").is_err());
        assert!(model_name("importedModelName", "my.model").is_err());
    }

    #[test]
    fn role_arns_and_tokens() {
        assert!(role_arn("arn:aws:iam::123456789012:role/BedrockImport").is_ok());
        assert!(role_arn("arn:aws-cn:iam:::role/x").is_ok());
        for bad in ["arn:aws:iam::12345:role/x", "arn:aws:s3:::bucket", "arn:aws:iam::123456789012:role/", "role"] {
            assert!(role_arn(bad).is_err(), "{bad}");
        }
        assert!(client_token("abc-123").is_ok());
        assert!(client_token("-abc").is_err());
        assert!(client_token("abc_1").is_err());
    }

    #[test]
    fn list_queries() {
        let q =
            ListQuery { status_equals: Some("Failed".into()), max_results: Some("2".into()), ..ListQuery::default() };
        let (query, status, limit) = q.into_query(true).unwrap();
        assert_eq!((status, limit, query.descending, query.offset), (Some(ImportJobStatus::Failed), 2, true, 0));
        let next = ListQuery {
            next_token: Some(encode_token(40)),
            sort_order: Some("Ascending".into()),
            ..ListQuery::default()
        };
        let (query, _, _) = next.into_query(false).unwrap();
        assert_eq!((query.offset, query.descending), (40, false));
        let bad = |q: ListQuery, jobs| q.into_query(jobs).unwrap_err().message;
        assert!(bad(ListQuery { status_equals: Some("Done".into()), ..ListQuery::default() }, true)
            .contains("statusEquals"));
        assert!(bad(ListQuery { max_results: Some("0".into()), ..ListQuery::default() }, true).contains("maxResults"));
        assert!(bad(ListQuery { next_token: Some("nope".into()), ..ListQuery::default() }, true).contains("nextToken"));
        assert!(bad(ListQuery { sort_by: Some("Name".into()), ..ListQuery::default() }, false).contains("sortBy"));
        assert!(bad(ListQuery { name_contains: Some("a.b".into()), ..ListQuery::default() }, false)
            .contains("nameContains"));
        assert!(bad(ListQuery { creation_time_after: Some("yesterday".into()), ..ListQuery::default() }, false)
            .contains("creationTimeAfter"));
    }
}
