package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/target"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// savedConfigName is the config file in the data directory that atgtd serves, and
// saves admin changes to, when no -config is given.
const savedConfigName = "atgt.json"

// loadConfig returns the config to serve and the file admin changes are saved to:
// -config's file; else <data dir>/atgt.json if an earlier run saved one; else the
// embedded default (saved to <data dir>/atgt.json at the first change).
func loadConfig(path, dataDir string) (string, *pb.Config, error) {
	if path != "" {
		cfg, err := target.LoadConfig(path)
		return path, cfg, err
	}
	if dataDir == "" {
		dataDir = target.DefaultDataDir
	}
	saved := filepath.Join(dataDir, savedConfigName)
	if _, err := os.Stat(saved); err == nil {
		cfg, err := target.LoadConfig(saved)
		return saved, cfg, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", nil, fmt.Errorf("config: %w", err)
	}
	return saved, target.DefaultConfig(), nil
}

// reload applies the config file again (SIGHUP): what differs from what is served,
// and only that, changes; a file that cannot be applied changes nothing and is logged.
// The file is read under the service's change lock (ReloadConfig), so that a reload
// that arrives during an atgtctl change reads the file that change saved.
func reload(svc *target.Service, path string, log hclog.Logger) {
	res, err := svc.ReloadConfig(context.Background(), path)
	if errors.Is(err, os.ErrNotExist) {
		log.Warn("SIGHUP: no config file to reload (nothing changed)", "path", path)
		reloadStatus(log, "reload: no config file "+path+" (nothing changed)")
		return
	}
	if err != nil {
		log.Error("SIGHUP: config not applied", "path", path, "error", err)
		reloadStatus(log, fmt.Sprintf("reload FAILED at %s: %v", time.Now().Format(time.DateTime), err))
		return
	}
	if len(res.Changes) == 0 {
		log.Info("SIGHUP: config reloaded; nothing changed", "path", path)
	}
	for _, c := range res.Changes {
		log.Warn("SIGHUP: config reloaded", "change", c)
	}
	reloadStatus(log, fmt.Sprintf("reloaded at %s: %d changes", time.Now().Format(time.DateTime), len(res.Changes)))
}

// reloadStatus tells systemd how the last reload went (STATUS=, shown by `systemctl
// status atgtd`): `systemctl reload` itself returns once SIGHUP is sent, so a refused
// file would otherwise show only in the journal. One line: newlines become "; ".
func reloadStatus(log hclog.Logger, status string) {
	notify(log, "STATUS="+strings.ReplaceAll(strings.TrimSpace(status), "\n", "; "))
}
