package target

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/atgt/atgt/actors/login"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Limits of CHAP credentials in the config.
const (
	minChapSecret  = 12   // bytes; RFC 7143 section 12.1.3 asks for at least 96 bits
	maxChapSecret  = 1024 // bytes
	maxChapUser    = 255  // bytes, a text value
	maxSecretFile  = 64 << 10
	redactedSecret = "[redacted]"
)

// chapSlot is one CHAP credential of the config and the name of its field.
type chapSlot struct {
	field string // "targets[0].chap", "discoveryMutualChap", ...
	chap  *pb.Chap
}

// chapPairs lists the config's CHAP credentials as (one-way, mutual) pairs: discovery
// first, then each target.
func chapPairs(cfg *pb.Config) [][2]chapSlot {
	pairs := [][2]chapSlot{{
		{"discoveryChap", cfg.DiscoveryChap}, {"discoveryMutualChap", cfg.DiscoveryMutualChap},
	}}
	for ti, t := range cfg.Targets {
		pairs = append(pairs, targetChapPairs(fmt.Sprintf("targets[%d]", ti), t)...)
	}
	return pairs
}

// targetChapPairs lists one target's CHAP credentials (tf names the target): its
// own pair, then each initiatorChap entry's.
func targetChapPairs(tf string, t *pb.Target) [][2]chapSlot {
	pairs := [][2]chapSlot{{{tf + ".chap", t.Chap}, {tf + ".mutualChap", t.MutualChap}}}
	for ii, ic := range t.InitiatorChap {
		f := fmt.Sprintf("%s.initiatorChap[%d]", tf, ii)
		pairs = append(pairs, [2]chapSlot{{f + ".chap", ic.Chap}, {f + ".mutualChap", ic.MutualChap}})
	}
	return pairs
}

// LoadTargetFile reads one target from its own file (atgtctl target add -file) as
// LoadConfig reads a config: strictly (an unknown field is an error), a parse error
// of a file that may hold a secret naming the place but not the text there, a file
// that holds a CHAP secret and that every user may read refused, and relative
// secret files made relative to the file's directory.
func LoadTargetFile(path string) (*pb.Target, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &pb.Target{}
	if err := protojson.Unmarshal(raw, t); err != nil {
		if msg, hidden := hideParseError(raw, err); hidden {
			return nil, fmt.Errorf("%s: %s", path, msg)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if holdsSecret(&pb.Config{Targets: []*pb.Target{t}}) && worldReadable(fi) {
		return nil, fmt.Errorf("%s: holds a CHAP secret and is readable by every user (mode %04o): chmod o-r %s, or move the secrets to secretFile",
			path, fi.Mode().Perm(), path)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	ResolveTargetSecretFiles(t, dir)
	return t, nil
}

// ResolveTargetSecretFiles is ResolveSecretFiles for one target read from its own
// file (atgtctl target add).
func ResolveTargetSecretFiles(t *pb.Target, dir string) {
	resolveSecretFiles(targetChapPairs("", t), dir)
}

// validateChap checks the CHAP fields: names, secrets present once, inline secrets'
// lengths, a target's two secrets different, the algorithms known. A secret still
// in its file is checked when loadSecrets reads it. Messages never show a secret.
func validateChap(cfg *pb.Config) error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("config: %s: %s", field, fmt.Sprintf(format, a...))
	}
	if field, msg := badAlgorithms("chapAlgorithms", cfg.ChapAlgorithms); field != "" {
		return bad(field, "%s", msg)
	}
	for ti, t := range cfg.Targets {
		field := fmt.Sprintf("targets[%d].chapAlgorithms", ti)
		if len(t.ChapAlgorithms) > 0 && t.Chap == nil && len(t.InitiatorChap) == 0 {
			return bad(field, "set without chap or initiatorChap")
		}
		if f, msg := badAlgorithms(field, t.ChapAlgorithms); f != "" {
			return bad(f, "%s", msg)
		}
		if f, msg := badInitiatorChap(ti, t); f != "" {
			return bad(f, "%s", msg)
		}
	}
	for _, pair := range chapPairs(cfg) {
		one, mutual := pair[0], pair[1]
		if mutual.chap != nil && one.chap == nil {
			return bad(mutual.field, "mutual CHAP needs %s (the initiator proves itself first)", one.field)
		}
		for _, s := range pair {
			if s.chap == nil {
				continue
			}
			if field, msg := badChap(s.field, s.chap); field != "" {
				return bad(field, "%s", msg)
			}
		}
		if one.chap != nil && mutual.chap != nil && one.chap.Secret != "" && one.chap.Secret == mutual.chap.Secret {
			return bad(mutual.field+".secret", "equals %s.secret: the target's and the initiator's secrets must differ", one.field)
		}
	}
	return crossRoleSecret(cfg)
}

// crossRoleSecret refuses a secret that authenticates initiators somewhere in the
// config (a chap or discovery_chap) and the target somewhere else (a mutual_chap or
// discovery_mutual_chap). RFC 7143 section 12.1.3 forbids it: an initiator that may
// log in where the secret is a mutual one asks the target to answer, with mutual
// CHAP, the challenge another target (or discovery) sent it, and logs in there
// without knowing that secret. Secrets still in their files are compared once
// loadSecrets has read them.
func crossRoleSecret(cfg *pb.Config) error {
	pairs := chapPairs(cfg)
	for _, tp := range pairs {
		target := tp[1]
		if target.chap == nil || target.chap.Secret == "" {
			continue
		}
		for _, ip := range pairs {
			one := ip[0]
			if one.chap == nil || one.chap.Secret != target.chap.Secret {
				continue
			}
			return fmt.Errorf("config: %s.secret: equals %s.secret: a secret that authenticates initiators must "+
				"not also authenticate the target (RFC 7143 12.1.3), else an initiator can make atgt answer "+
				"another login's challenge for it; give the target its own secret", target.field, one.field)
		}
	}
	return nil
}

// sharedSecrets lists the pairs of CHAP fields (of one role: crossRoleSecret refuses
// the others) that hold the same secret, which RFC 7143 12.1.3 says should not be
// (whoever knows one knows the other).
func sharedSecrets(cfg *pb.Config) [][2]string {
	var slots []chapSlot
	for _, pair := range chapPairs(cfg) {
		for _, s := range pair {
			if s.chap != nil && s.chap.Secret != "" {
				slots = append(slots, s)
			}
		}
	}
	var out [][2]string
	for i, a := range slots {
		for _, b := range slots[i+1:] {
			if a.chap.Secret == b.chap.Secret {
				out = append(out, [2]string{a.field, b.field})
			}
		}
	}
	return out
}

// warnSharedSecrets logs each pair of sharedSecrets, naming the fields only.
func warnSharedSecrets(cfg *pb.Config, log hclog.Logger) {
	for _, p := range sharedSecrets(cfg) {
		log.Warn("two CHAP credentials share one secret (RFC 7143 12.1.3: should not): a host that knows one can log in as the other",
			"field", p[0]+".secret", "other", p[1]+".secret")
	}
}

// badChap returns the field of a credential that is wrong and why, or "".
func badChap(field string, c *pb.Chap) (string, string) {
	switch {
	case c.User == "":
		return field + ".user", "a CHAP name is required"
	case len(c.User) > maxChapUser:
		return field + ".user", fmt.Sprintf("longer than %d bytes", maxChapUser)
	}
	for _, r := range c.User {
		if r < ' ' || r == 0x7f {
			return field + ".user", "contains a control character"
		}
	}
	switch {
	case c.Secret != "" && c.SecretFile != "":
		return field + ".secret", "set both secret and secretFile; give one"
	case c.Secret == "" && c.SecretFile == "":
		return field + ".secret", "a secret or a secretFile is required"
	case c.SecretFile != "":
		return "", ""
	}
	if msg := badSecret([]byte(c.Secret)); msg != "" {
		return field + ".secret", msg
	}
	return "", ""
}

// badSecret says what is wrong with a secret's length, or "".
func badSecret(s []byte) string {
	switch {
	case len(s) < minChapSecret:
		return fmt.Sprintf("shorter than %d bytes", minChapSecret)
	case len(s) > maxChapSecret:
		return fmt.Sprintf("longer than %d bytes", maxChapSecret)
	}
	return ""
}

// badAlgorithms checks a list of CHAP algorithm names.
func badAlgorithms(field string, names []string) (string, string) {
	seen := map[login.ChapAlgorithm]bool{}
	for i, n := range names {
		f := fmt.Sprintf("%s[%d]", field, i)
		a, ok := login.ParseChapAlgorithm(n)
		if !ok {
			return f, fmt.Sprintf("%q is not %s", n, login.ChapAlgorithmNames)
		}
		if seen[a] {
			return f, fmt.Sprintf("%s appears twice", n)
		}
		seen[a] = true
	}
	return "", ""
}

// holdsSecret reports whether the config itself holds a CHAP secret (not only
// secret files).
func holdsSecret(cfg *pb.Config) bool {
	for _, pair := range chapPairs(cfg) {
		for _, s := range pair {
			if s.chap != nil && s.chap.Secret != "" {
				return true
			}
		}
	}
	return false
}

// worldReadable reports a file others may read.
func worldReadable(fi os.FileInfo) bool { return fi.Mode().Perm()&0o004 != 0 }

// ResolveSecretFiles makes relative secret_file paths relative to dir (the directory
// of the file they were read from). The service does this on its served copy only;
// atgtctl does it for a file it sends (config apply), whose directory atgtd does not
// know.
func ResolveSecretFiles(cfg *pb.Config, dir string) { resolveSecretFiles(chapPairs(cfg), dir) }

// resolveSecretFiles makes the relative secret_file paths of pairs relative to dir.
func resolveSecretFiles(pairs [][2]chapSlot, dir string) {
	for _, pair := range pairs {
		for _, s := range pair {
			if s.chap != nil && s.chap.SecretFile != "" && !filepath.IsAbs(s.chap.SecretFile) {
				s.chap.SecretFile = filepath.Join(dir, s.chap.SecretFile)
			}
		}
	}
}

// loadSecrets reads every secret_file of a validated config into its secret (cfg is
// the defaulted copy, never the caller's), refusing a file others may read, then
// checks the secrets as validateChap does. A relative secret_file is relative to dir
// (the config file's directory; "" the working directory).
func loadSecrets(cfg *pb.Config, dir string) error {
	ResolveSecretFiles(cfg, dir)
	for _, pair := range chapPairs(cfg) {
		for _, s := range pair {
			if s.chap == nil || s.chap.SecretFile == "" {
				continue
			}
			secret, err := readSecretFile(s.chap.SecretFile)
			if err != nil {
				return fmt.Errorf("config: %s.secretFile: %w", s.field, err)
			}
			if msg := badSecret(secret); msg != "" {
				return fmt.Errorf("config: %s.secretFile: the secret in %s is %s", s.field, s.chap.SecretFile, msg)
			}
			s.chap.Secret, s.chap.SecretFile = string(secret), ""
			clear(secret)
		}
	}
	return validateChap(cfg)
}

// readSecretFile returns the first line of path, without its line ending, unless
// others may read the file. Errors name the file, never its content.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if worldReadable(fi) {
		return nil, fmt.Errorf("%s holds a CHAP secret and is readable by every user (mode %04o): chmod o-r %s",
			path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile))
	if err != nil {
		return nil, fmt.Errorf("%s: read failed", path)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	secret := append([]byte(nil), line...)
	clear(b)
	return secret, nil
}

// chapAuth is the login authenticator of a config with CHAP, nil without any (every
// login then uses AuthMethod None).
func chapAuth(cfg *pb.Config) login.Authenticator {
	discovery := chapPolicy(cfg.DiscoveryChap, cfg.DiscoveryMutualChap, cfg.ChapAlgorithms)
	targets := map[string]login.ChapPolicy{}
	initiators := map[string]map[string]login.ChapPolicy{}
	for _, t := range cfg.Targets {
		algs := t.ChapAlgorithms
		if len(algs) == 0 {
			algs = cfg.ChapAlgorithms
		}
		if t.Chap != nil {
			targets[t.Name] = chapPolicy(t.Chap, t.MutualChap, algs)
		}
		if len(t.InitiatorChap) == 0 {
			continue
		}
		own := map[string]login.ChapPolicy{}
		for _, ic := range t.InitiatorChap {
			own[ic.Initiator] = chapPolicy(ic.Chap, ic.MutualChap, algs)
		}
		initiators[t.Name] = own
	}
	if discovery.Initiator == nil && len(targets) == 0 && len(initiators) == 0 {
		return nil
	}
	return &login.ChapAuth{Discovery: discovery, Targets: targets, Initiators: initiators, Rand: rand.Reader}
}

// badInitiatorChap checks target ti's initiator_chap entries (their credentials are
// checked as every chap pair is) and returns the bad field and why, or "".
func badInitiatorChap(ti int, t *pb.Target) (field, msg string) {
	admitted := initiatorAllowList(t)
	seen := map[string]string{}
	for ii, ic := range t.InitiatorChap {
		f := fmt.Sprintf("targets[%d].initiatorChap[%d]", ti, ii)
		if err := validName(ic.Initiator); err != nil {
			return f + ".initiator", err.Error()
		}
		if other, dup := seen[ic.Initiator]; dup {
			return f + ".initiator", fmt.Sprintf("%q is also listed in %s", ic.Initiator, other)
		}
		seen[ic.Initiator] = f
		if admitted != nil && !admitted(ic.Initiator) {
			return f + ".initiator", fmt.Sprintf("%q may not log in to the target (allowedInitiators, or initiatorLuns "+
				"without shared luns), so its credential could never be used", ic.Initiator)
		}
		if ic.Chap == nil {
			return f + ".chap", "a credential is required (the initiator's own CHAP name and secret)"
		}
	}
	return "", ""
}

// chapPolicy turns validated config credentials into a login policy.
func chapPolicy(one, mutual *pb.Chap, algorithms []string) login.ChapPolicy {
	var p login.ChapPolicy
	if one == nil {
		return p
	}
	p.Initiator = &login.ChapCredential{User: one.User, Secret: login.Secret(one.Secret)}
	if mutual != nil {
		p.Target = &login.ChapCredential{User: mutual.User, Secret: login.Secret(mutual.Secret)}
	}
	for _, n := range algorithms {
		if a, ok := login.ParseChapAlgorithm(n); ok {
			p.Algorithms = append(p.Algorithms, a)
		}
	}
	return p
}

// parseErrorText matches the parse errors of protojson that quote the text at fault;
// parsePosition finds where it is.
var (
	parseErrorText = regexp.MustCompile(`invalid value|syntax error|unexpected token|invalid escape`)
	parsePosition  = regexp.MustCompile(`\(line \d+:\d+\)`)
)

// hideParseError rewrites a parse error of a config that may hold a secret (say, a
// secret written without quotes) so that it names the place but not the text there;
// hidden is false when the error can be shown as it is.
func hideParseError(raw []byte, err error) (msg string, hidden bool) {
	if !bytes.Contains(raw, []byte("secret")) || !parseErrorText.MatchString(err.Error()) {
		return "", false
	}
	pos := parsePosition.FindString(err.Error())
	if pos == "" {
		pos = "(position unknown)"
	}
	return fmt.Sprintf("not valid protobuf JSON at %s; the text there is not shown, as the file holds CHAP secrets", pos), true
}

// Redacted returns a copy of cfg whose CHAP secrets read "[redacted]", for any path
// that prints or logs a configuration.
func Redacted(cfg *pb.Config) *pb.Config {
	out := proto.Clone(cfg).(*pb.Config)
	for _, pair := range chapPairs(out) {
		for _, s := range pair {
			if s.chap != nil && s.chap.Secret != "" {
				s.chap.Secret = redactedSecret
			}
		}
	}
	return out
}
