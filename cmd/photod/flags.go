package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/profilephoto/photo/httpadapter"
)

// config is photod's command line.
type config struct {
	addr            string
	dataDir         string
	s3Endpoint      string
	s3Bucket        string
	s3Region        string
	s3Prefix        string
	tokensFile      string
	baseURL         string
	allow           prefixList
	logLevel        slog.Level
	shutdownTimeout time.Duration
	janitorEvery    time.Duration
	writeRate       float64       // httpadapter.Options.WriteRate.Rate
	writeWait       time.Duration // httpadapter.Options.WriteWait
	memoryBudget    byteSize
	memoryLimit     byteSize
	keepVersions    int        // photo.Options.KeepVersions
	webhooks        stringList // -webhook URLs
	webhookSecret   string     // -webhook-secret-file
}

// perUserWriteRate is -write-rate as httpadapter's per-principal limit,
// with bursts of ten seconds' worth.
func (c *config) perUserWriteRate() httpadapter.RateLimit {
	return httpadapter.RateLimit{Rate: c.writeRate, Burst: int(math.Ceil(10 * c.writeRate))}
}

// globalWriteRate is httpadapter's default global write limit, or off
// when -write-rate is negative.
func (c *config) globalWriteRate() httpadapter.RateLimit {
	return httpadapter.RateLimit{Rate: min(c.writeRate, 0)}
}

// useS3 reports whether the S3 backend was asked for.
func (c *config) useS3() bool { return c.s3Bucket != "" }

// parseFlags parses args (without the program name). Usage and errors go to
// stderr; -h returns flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("photod", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: photod [flags]

photod serves the photo library's HTTP API (Chatter, the three-step
resumable upload, profile-image and Slack dialects, and rendition URLs) and
a web page at / to upload, crop and see every rendition.

With no flags it listens on 127.0.0.1:8080, keeps photos in ./photod-data
and prints a token for the user "demo" that the page uses.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`address` to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&c.dataDir, "data", "photod-data", "`directory` of the filesystem store, created if missing: objects in DIR/store, the email URLs' signing key in DIR/signing-key (ignored with -s3-bucket)")
	fs.StringVar(&c.s3Bucket, "s3-bucket", "", "keep photos in this S3 `bucket` instead of -data; credentials come from the usual AWS environment variables")
	fs.StringVar(&c.s3Endpoint, "s3-endpoint", "", "S3 endpoint `URL` for S3-compatible servers (MinIO, versitygw, Ceph, R2), addressed path-style; empty means AWS")
	fs.StringVar(&c.s3Region, "s3-region", "", "S3 `region`; empty means AWS_REGION, or us-east-1")
	fs.StringVar(&c.s3Prefix, "s3-prefix", "", "key `prefix` inside the S3 bucket, so that several deployments can share one bucket")
	fs.StringVar(&c.tokensFile, "tokens", "", "`file` of bearer tokens, one \"TOKEN USERID [admin]\" a line (# comments); without it photod makes a token for user \"demo\"")
	fs.StringVar(&c.baseURL, "base-url", "", "absolute `URL` clients reach photod at, used in every URL of a response (default: the request's scheme and host)")
	fs.Var(&c.allow, "url-import-allow", "`CIDR` (or address) that set-from-URL may fetch from besides public addresses; repeatable, e.g. 127.0.0.0/8")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log `level`: DEBUG, INFO, WARN or ERROR")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a shutdown waits for requests and URL imports in flight")
	fs.DurationVar(&c.janitorEvery, "janitor-interval", 10*time.Minute, "how often to remove expired uploads and files, unreferenced blobs and, on the filesystem store, temporary files of crashed writes, and to post again -webhook events not yet delivered (0 turns it off)")
	fs.Float64Var(&c.writeRate, "write-rate", 0, "`writes` a second each user may make (uploads, deletes, chunks; bursts of 10 times as many); 0 means the default, 5; negative turns the per-user and global write rate limits off")
	fs.DurationVar(&c.writeWait, "write-wait", 0, "longest a write waits for a free slot before a retryable 503; 0 means the default, 5s")
	fs.IntVar(&c.keepVersions, "keep-versions", 5, "how many earlier `versions` of each user's photo to keep, listed, served and restorable (0 to 100; 0 removes a replaced photo at once)")
	fs.Var(&c.memoryBudget, "memory-budget", memoryBudgetHelp)
	fs.Var(&c.memoryLimit, "memory-limit", memoryLimitHelp)
	fs.Var(&c.webhooks, "webhook", "`URL` to POST every photo change to (set, delete, restore) as signed JSON, through the same address policy as set-from-URL (-url-import-allow); repeatable. At least once: an event not answered 2xx by every URL is posted again (by the janitor's sweep once 5 minutes old, so keep -janitor-interval on); receivers deduplicate by its id")
	fs.StringVar(&c.webhookSecret, "webhook-secret-file", "", "`file` holding the webhooks' HMAC-SHA256 secret (at least 16 bytes; surrounding white space trimmed); default: the "+webhookSecretEnv+" environment variable")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("photod: unexpected arguments %q", fs.Args())
	}
	if !c.useS3() && (c.s3Endpoint != "" || c.s3Region != "" || c.s3Prefix != "") {
		return nil, errors.New("photod: -s3-endpoint, -s3-region and -s3-prefix need -s3-bucket")
	}
	if c.dataDir == "" && !c.useS3() {
		return nil, errors.New("photod: -data must not be empty")
	}
	if c.shutdownTimeout <= 0 {
		return nil, errors.New("photod: -shutdown-timeout must be positive")
	}
	if c.writeWait < 0 {
		return nil, errors.New("photod: -write-wait must not be negative")
	}
	if c.keepVersions < 0 || c.keepVersions > 100 {
		return nil, errors.New("photod: -keep-versions must be between 0 and 100")
	}
	if c.webhookSecret != "" && len(c.webhooks) == 0 {
		return nil, errors.New("photod: -webhook-secret-file needs -webhook")
	}
	if c.janitorEvery < 0 {
		return nil, errors.New("photod: -janitor-interval must not be negative")
	}
	return c, nil
}

// prefixList is a repeatable flag of network prefixes. A bare address is
// taken as the prefix of that one address.
type prefixList []netip.Prefix

// String implements flag.Value.
func (p *prefixList) String() string {
	if p == nil {
		return ""
	}
	s := make([]string, len(*p))
	for i, pf := range *p {
		s[i] = pf.String()
	}
	return strings.Join(s, ",")
}

// Set implements flag.Value.
func (p *prefixList) Set(v string) error {
	v = strings.TrimSpace(v)
	if a, err := netip.ParseAddr(v); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("%q: an address with a zone cannot be allowed", v)
		}
		*p = append(*p, netip.PrefixFrom(a, a.BitLen()))
		return nil
	}
	pf, err := netip.ParsePrefix(v)
	if err != nil {
		return fmt.Errorf("not a CIDR prefix or address: %q", v)
	}
	if pf.Masked() != pf {
		return fmt.Errorf("%q has host bits set; did you mean %s?", v, pf.Masked())
	}
	*p = append(*p, pf)
	return nil
}

// stringList is a repeatable flag of strings.
type stringList []string

// String implements flag.Value.
func (l *stringList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

// Set implements flag.Value.
func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
