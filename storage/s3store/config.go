package s3store

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Config says where a Store's bucket is, for Open.
type Config struct {
	// Endpoint is the URL of an S3-compatible service
	// ("http://127.0.0.1:7070", "https://<account>.r2.cloudflarestorage.com");
	// empty means AWS S3 itself.
	Endpoint string
	// Region is the bucket's region; empty means the one the AWS
	// configuration names (AWS_REGION, the profile), else "us-east-1".
	Region string
	// Bucket is the bucket's name. Required.
	Bucket string
	// Prefix is Options.Prefix: put before every key.
	Prefix string
	// PathStyle addresses the bucket as ENDPOINT/BUCKET rather than
	// BUCKET.ENDPOINT; MinIO, versitygw and Ceph usually need it.
	PathStyle bool
	// AccessKeyID and SecretAccessKey, when both are set, are the
	// credentials; otherwise the usual AWS sources are used
	// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the
	// shared files, then the platform's roles).
	AccessKeyID, SecretAccessKey string
	// PartSize is Options.PartSize.
	PartSize int64
}

// Open returns a Store for the bucket that cfg names, with a client built
// from the AWS configuration of the environment. It makes no request: a
// wrong bucket or credentials show in the first call.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3store: Open: no bucket")
	}
	var loadOpts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" && cfg.SecretAccessKey != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3store: Open: AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Objects written by other tools may carry no checksum; a warning
		// for each read of one is noise.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return New(client, cfg.Bucket, &Options{Prefix: cfg.Prefix, PartSize: cfg.PartSize})
}
