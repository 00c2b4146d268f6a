# Sourced by bench/profile.sh and bench/instructions.sh: the request of operation $op
# (converse, invoke or stream) as $path, $body and $stream (bench-load flags), the
# model, and a SigV4-looking Authorization header (loopback: only the scope's region
# is read).
MODEL="anthropic.claude-3-haiku-20240307-v1%3A0"
prompt="What is the difference between S3, EBS and EFS? Answer in one paragraph."
converse_body="{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"$prompt\"}]}],\"inferenceConfig\":{\"maxTokens\":256}}"
stream=()
case "$op" in
  converse) path=converse body="$converse_body" ;;
  stream) path=converse-stream body="$converse_body" stream=(--stream event-stream) ;;
  invoke) path=invoke body="{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":256,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"$prompt\"}]}]}" ;;
  *) echo "unknown operation $op (converse, invoke, stream)" >&2; exit 2 ;;
esac
AUTH="AWS4-HMAC-SHA256 Credential=AKIDPROFILE/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=$(printf '0%.0s' $(seq 64))"

# Every feature on in the measured configuration (issue 13): the account logs its calls
# in us-east-1, text delivery to the local S3 bucket. $1 is spillway's URL.
enable_logging() {
  curl -sf -X PUT "$1/logging/modelinvocations" -H "content-type: application/json" -H "authorization: $AUTH" \
    -d '{"loggingConfig":{"s3Config":{"bucketName":"bench-logs","keyPrefix":"spillway"},"textDataDeliveryEnabled":true}}' >/dev/null \
    || { echo "spillway refused the invocation-logging configuration" >&2; exit 1; }
}
