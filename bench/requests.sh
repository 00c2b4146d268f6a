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
