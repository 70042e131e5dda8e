package testcontainers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Class data sharing (AppCDS) for the Kafka JVMs.
//
// A Kafka node spends most of its start loading and verifying classes: with
// an archive of the broker's classes it starts about 40% faster (measured
// here: ~4.5 s → ~2.7 s per node; formatting and ConsumerGroupCommand gain
// too). The archive is made once per machine, JVM build and jar set: the first
// node that starts without one runs with -XX:ArchiveClassesAtExit, and when
// it exits after SIGTERM the archive it wrote is checked (a JVM that maps a
// truncated archive crashes) and moved into <cache>/cds/. A node that is
// SIGKILLed, or an archive that fails the check, leaves nothing behind;
// the next test binary tries again. BRIDGE_TEST_KAFKA_CDS=0 turns all of
// this off.

// EnvKafkaCDS set to 0/false disables class data sharing for the Kafka JVMs.
const EnvKafkaCDS = "BRIDGE_TEST_KAFKA_CDS"

var (
	cdsMu      sync.Mutex
	cdsTrained bool // this process already started a training JVM
)

func cdsEnabled() bool {
	v := os.Getenv(EnvKafkaCDS)
	return v == "" || envTrue(EnvKafkaCDS)
}

// cdsArchive is the archive's path for this JVM build and jar folder.
func (k *Kafka) cdsArchive() string {
	sum := sha256.Sum256([]byte(k.java + "\x00" + javaVersionText + "\x00" + k.jars))
	return filepath.Join(k.jars, "cds", "kafka-"+hex.EncodeToString(sum[:8])+".jsa")
}

// quietJVMLog keeps the JVM's own warnings (CDS notes among them) off
// stdout, where tools print their results.
var quietJVMLog = []string{"-Xlog:disable", "-Xlog:all=error:stderr"}

// cdsArgs returns the JVM flags that use the archive. With train set (a
// broker), and no archive yet, it returns the flags that write one instead,
// and the temporary path they write to; pass that to cdsAdopt when the JVM
// has exited.
func (k *Kafka) cdsArgs(train bool) (args []string, tmp string) {
	if !cdsEnabled() {
		return quietJVMLog, ""
	}
	archive := k.cdsArchive()
	if _, err := os.Stat(archive); err == nil {
		return append([]string{"-XX:SharedArchiveFile=" + archive}, quietJVMLog...), ""
	}
	if !train {
		return quietJVMLog, ""
	}
	cdsMu.Lock()
	defer cdsMu.Unlock()
	if cdsTrained {
		return quietJVMLog, ""
	}
	if err := os.MkdirAll(filepath.Dir(archive), 0o755); err != nil {
		return quietJVMLog, ""
	}
	cdsTrained = true
	tmp = fmt.Sprintf("%s.tmp-%d-%d", archive, os.Getpid(), time.Now().UnixNano())
	return append([]string{"-XX:ArchiveClassesAtExit=" + tmp, "-XX:+VerifySharedSpaces"}, quietJVMLog...), tmp
}

// cdsAdopt moves a freshly written archive into place if the JVM that wrote
// it exited normally (0, or 143 after SIGTERM) and a JVM can map it with
// checksums verified; otherwise it removes it.
func (k *Kafka) cdsAdopt(tmp string, exitCode int) {
	defer os.Remove(tmp)
	if exitCode != 0 && exitCode != 143 {
		return
	}
	if st, err := os.Stat(tmp); err != nil || st.Size() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.java, "-XX:SharedArchiveFile="+tmp, "-XX:+VerifySharedSpaces", "-Xshare:on",
		"-cp", filepath.Join(k.jars, "*"), "-version")
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Run(); err != nil {
		return
	}
	_ = os.Rename(tmp, k.cdsArchive())
}
