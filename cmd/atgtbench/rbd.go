package main

// `atgtbench -rbd POOL/IMAGE`: atgt's RBD backend beside tgt's (tgt-rbd, --bstype
// rbd) on the same image of the same cluster, and beside librbd driven directly at the
// same queue depth (`rbd bench`, librbd's asynchronous calls with -qd in flight) as
// the reference limit. Both targets open the image at once (one is driven at a
// time); RBD's exclusive lock moves to the one writing when the bench switches.

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// rbdDefaultCases are the cases the comparison names: 4 KiB random IOPS and
// 128 KiB throughput.
const rbdDefaultCases = `^go (rand (read|write) 4K|seq (read|write) 128K)$`

// rbdImage is the -rbd image and how to reach its cluster.
type rbdImage struct {
	Pool, Image, Conf string
}

// parseRBD reads -rbd POOL/IMAGE.
func parseRBD(s string) (rbdImage, error) {
	pool, image, ok := strings.Cut(s, "/")
	if !ok || pool == "" || image == "" || strings.Contains(image, "/") {
		return rbdImage{}, fmt.Errorf("-rbd %q: want POOL/IMAGE", s)
	}
	return rbdImage{Pool: pool, Image: image}, nil
}

// rbdCmd runs the rbd command against the image's cluster.
func (r rbdImage) rbdCmd(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "rbd", append([]string{"-c", r.Conf}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rbd %s: %v: %s", strings.Join(args, " "), err, lastLines(string(out), 5))
	}
	return string(out), nil
}

// prepareRBD finds the cluster (-ceph-conf, else the one-node test cluster that
// scripts/ceph-up.sh starts or reuses), makes the image of size bytes if it is
// missing, and fills it once, so that reads meet data rather than absent objects.
func prepareRBD(ctx context.Context, c *config) (rbdImage, error) {
	r, err := parseRBD(c.rbd)
	if err != nil {
		return r, err
	}
	r.Conf = c.cephConf
	if r.Conf == "" {
		out, err := exec.CommandContext(ctx, filepath.Join(moduleRoot(), "scripts", "ceph-up.sh")).Output()
		if err != nil {
			return r, fmt.Errorf("scripts/ceph-up.sh: %v", err)
		}
		f := strings.Fields(string(out))
		if len(f) == 0 {
			return r, fmt.Errorf("scripts/ceph-up.sh printed no ceph.conf")
		}
		r.Conf = f[len(f)-1]
	}
	spec := r.Pool + "/" + r.Image
	if _, err := r.rbdCmd(ctx, "info", spec); err != nil {
		logf("creating image %s (%d bytes) and filling it", spec, c.size)
		if _, err := r.rbdCmd(ctx, "create", "--size", fmt.Sprintf("%dB", c.size), spec); err != nil {
			return r, err
		}
		if _, err := r.rbdCmd(ctx, "bench", "--io-type", "write", "--io-size", "4M", "--io-threads", "8",
			"--io-pattern", "seq", "--io-total", strconv.FormatInt(c.size, 10), "--rbd_cache=false", spec); err != nil {
			return r, err
		}
	}
	out, err := r.rbdCmd(ctx, "info", "--format", "json", spec)
	if err != nil {
		return r, err
	}
	if m := regexp.MustCompile(`"size":\s*(\d+)`).FindStringSubmatch(out); m != nil {
		c.size, _ = strconv.ParseInt(m[1], 10, 64)
	}
	logf("RBD image %s (%d bytes) on the cluster of %s", spec, c.size, r.Conf)
	if clusterPIDs = findClusterPIDs(r.Conf); len(clusterPIDs) == 0 {
		logf("no pid files of the cluster's daemons beside %s: no CPU budget", r.Conf)
	}
	return r, nil
}

// startRBDTargets starts atgtd (built with -tags ceph) and tgtd (bs_rbd) on the image.
func startRBDTargets(ctx context.Context, c *config, r rbdImage, workDir string) (*target, *target, error) {
	atgtTags = "ceph"
	var seed atomic.Uint64
	goSeed = func() uint64 { return seed.Add(1) }
	lun := map[string]any{"path": nil, "sizeBytes": nil, "backend": "rbd",
		"rbd": map[string]any{"pool": r.Pool, "image": r.Image, "cephConf": r.Conf}}
	if c.atgtWorkers > 0 {
		lun["workers"] = c.atgtWorkers
	}
	atgt, err := startAtgt(ctx, workDir, "", 0, lun, c.atgtCfgFields(), c.atgtBin, logf)
	if err != nil {
		return nil, nil, fmt.Errorf("atgtd: %w", err)
	}
	cleanup.Lock()
	cleanup.targets = append(cleanup.targets, atgt)
	cleanup.Unlock()
	tgt, err := startTgtLUN(ctx, workDir, []string{"--bstype", "rbd", "--backing-store", r.Pool + "/" + r.Image,
		"--bsopts", "conf=" + r.Conf + ";id=admin"}, c.tgtOpts(), logf)
	if err != nil {
		return nil, nil, fmt.Errorf("tgtd (tgt-rbd): %w", err)
	}
	cleanup.Lock()
	cleanup.targets = append(cleanup.targets, tgt)
	cleanup.Unlock()
	logf("atgtd pid %d serving %s; tgtd pid %d serving %s", atgt.PID, atgt.URL, tgt.PID, tgt.URL)
	return atgt, tgt, nil
}

// rbdBenchLine is the summary line of `rbd bench`.
var rbdBenchLine = regexp.MustCompile(`elapsed:\s*([\d.]+)\s+ops:\s*(\d+)\s+ops/sec:\s*([\d.]+)`)

// librbdPrefix begins the names of the reference rows.
const librbdPrefix = "librbd direct (rbd bench) "

// librbdRefs are the reference rows: each Go case's workload run with `rbd bench`
// (librbd, -qd requests in flight, no client cache as atgt's backend), once per
// repeat right after the two targets' runs, so that all three meet the machine alike.
type librbdRefs struct {
	rows  []row
	index map[string]int
}

// run measures bc's workload once with rbd bench and adds it to bc's reference row.
func (l *librbdRefs) run(ctx context.Context, c *config, r rbdImage, bc benchCase, rep int) {
	f := strings.Fields(bc.Name) // go PATTERN OP SIZE
	if len(f) != 4 || f[0] != "go" {
		return
	}
	size, err := strconv.Atoi(strings.TrimSuffix(f[3], "K"))
	if err != nil {
		return
	}
	gc := goCase{Random: f[1] == "rand", Write: f[2] == "write", Size: size << 10}
	ios := c.ios
	if c.iosLarge > 0 && gc.Size >= 128<<10 {
		ios = c.iosLarge
	}
	name := librbdPrefix + strings.TrimPrefix(bc.Name, "go ")
	if l.index == nil {
		l.index = map[string]int{}
	}
	k, ok := l.index[name]
	if !ok {
		k = len(l.rows)
		l.index[name] = k
		l.rows = append(l.rows, row{Case: name, Unit: bc.Unit, Ref: true})
	}
	rw := &l.rows[k]
	var m machineMeter
	m.mark()
	v, cpu, err := runRBDBench(ctx, r, gc, ios, c.qd)
	m.stop()
	if err != nil {
		logf("%s: %v", name, err)
		rw.Note = "errors"
		return
	}
	// The client here is librbd itself: rbd bench's process.
	bytes := float64(ios) * float64(gc.Size)
	s := sample{Value: v, CPUPerGB: math.NaN(), ClientCPUPerGB: perGB(cpu, bytes), Rep: rep}
	m.fill(&s, bytes)
	logf("%-40s run %d: %s %s, librbd CPU %s s/GB, cluster CPU %s s/GB, %s cores busy", name, rep+1, fmtValue(v, bc.Unit),
		bc.Unit, fmtFloat(s.ClientCPUPerGB, 2), fmtFloat(s.ClusterCPUPerGB, 2), fmtFloat(s.CoresBusy, 2))
	rw.Atgt = append(rw.Atgt, s)
}

// runRBDBench runs one `rbd bench` of ios IOs and returns IOPS, or MB/s for 128 KiB
// and larger IOs, and the CPU seconds rbd bench's process used.
func runRBDBench(ctx context.Context, r rbdImage, gc goCase, ios, qd int) (float64, float64, error) {
	typ, pat := "read", "seq"
	if gc.Write {
		typ = "write"
	}
	if gc.Random {
		pat = "rand"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "rbd", "-c", r.Conf, "bench", "--io-type", typ, "--io-size", strconv.Itoa(gc.Size),
		"--io-threads", strconv.Itoa(qd), "--io-pattern", pat, "--io-total", strconv.FormatInt(int64(ios)*int64(gc.Size), 10),
		"--rbd_cache=false", r.Pool+"/"+r.Image)
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		return 0, 0, fmt.Errorf("rbd bench: %v: %s", err, lastLines(out, 5))
	}
	cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	m := rbdBenchLine.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("rbd bench: no summary line in %q", lastLines(out, 3))
	}
	ops, _ := strconv.ParseFloat(m[3], 64)
	if gc.Size >= 128<<10 {
		return ops * float64(gc.Size) / 1e6, cpu, nil
	}
	return ops, cpu, nil
}

// rbdNotes compares atgt with librbd direct per case (the 80% bar).
func rbdNotes(ss []summary) []string {
	ref := map[string]float64{}
	for _, s := range ss {
		if s.Ref {
			ref[strings.TrimPrefix(s.Case, librbdPrefix)] = s.Atgt
		}
	}
	var notes []string
	for _, s := range ss {
		if l, ok := ref[strings.TrimPrefix(s.Case, "go ")]; ok && !s.Ref && l > 0 {
			notes = append(notes, fmt.Sprintf("%s: atgt %.0f%%, tgt-rbd %.0f%% of librbd direct at the same queue depth", s.Case,
				100*s.Atgt/l, 100*s.Tgt/l))
		}
	}
	return notes
}

// rbdMachine describes the cluster: Ceph's version and its OSDs.
func rbdMachine(r rbdImage) string {
	v := "?"
	if out, err := exec.Command("ceph", "--version").Output(); err == nil {
		v = strings.TrimSpace(string(out))
	}
	osds := "?"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ceph", "-c", r.Conf, "osd", "stat").Output(); err == nil {
		osds = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s; cluster %s: %s; tgt-rbd from Debian's tgt-rbd", v, r.Conf, osds)
}
