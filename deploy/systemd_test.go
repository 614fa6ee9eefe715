package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Directive names by section, from the systemd.unit(5), systemd.service(5),
// systemd.exec(5), systemd.kill(5) and systemd.resource-control(5) manual
// pages; every name here is also in systemd 252's own directive table. A
// name missing here that systemd does know may be added; a name systemd
// does not know must never be.
var (
	unitDirectives = words(`
		Description Documentation Wants Requires Requisite BindsTo PartOf
		Upholds Conflicts Before After OnFailure OnSuccess PropagatesReloadTo
		ReloadPropagatedFrom PropagatesStopTo StopPropagatedFrom
		JoinsNamespaceOf RequiresMountsFor OnFailureJobMode
		OnSuccessJobMode IgnoreOnIsolate StopWhenUnneeded RefuseManualStart
		RefuseManualStop AllowIsolate DefaultDependencies
		CollectMode FailureAction SuccessAction FailureActionExitStatus
		SuccessActionExitStatus JobTimeoutSec JobRunningTimeoutSec
		JobTimeoutAction JobTimeoutRebootArgument StartLimitIntervalSec
		StartLimitBurst StartLimitAction RebootArgument SourcePath
		ConditionArchitecture ConditionFirmware ConditionVirtualization
		ConditionHost ConditionKernelCommandLine ConditionKernelVersion
		ConditionCredential ConditionEnvironment ConditionSecurity
		ConditionCapability ConditionACPower ConditionNeedsUpdate
		ConditionFirstBoot ConditionPathExists ConditionPathExistsGlob
		ConditionPathIsDirectory ConditionPathIsSymbolicLink
		ConditionPathIsMountPoint ConditionPathIsReadWrite
		ConditionPathIsEncrypted ConditionDirectoryNotEmpty
		ConditionFileNotEmpty ConditionFileIsExecutable ConditionUser
		ConditionGroup ConditionControlGroupController ConditionMemory
		ConditionCPUs ConditionCPUFeature ConditionOSRelease
		ConditionMemoryPressure ConditionCPUPressure ConditionIOPressure
		AssertArchitecture AssertVirtualization AssertHost
		AssertKernelCommandLine AssertKernelVersion AssertPathExists
		AssertPathIsDirectory AssertFileNotEmpty AssertUser AssertGroup`)

	serviceDirectives = words(`
		Type ExitType RemainAfterExit GuessMainPID PIDFile BusName ExecStart
		ExecStartPre ExecStartPost ExecCondition ExecReload ExecStop
		ExecStopPost RestartSec
		TimeoutStartSec TimeoutStopSec TimeoutAbortSec TimeoutSec
		TimeoutStartFailureMode TimeoutStopFailureMode RuntimeMaxSec
		RuntimeRandomizedExtraSec WatchdogSec Restart
		SuccessExitStatus RestartPreventExitStatus RestartForceExitStatus
		RootDirectoryStartOnly NonBlocking NotifyAccess Sockets
		FileDescriptorStoreMax
		USBFunctionDescriptors USBFunctionStrings OOMPolicy` +
		// systemd.exec(5)
		`
		ExecSearchPath WorkingDirectory RootDirectory RootImage
		RootImageOptions RootHash RootHashSignature RootVerity
		MountAPIVFS
		ProtectProc ProcSubset BindPaths BindReadOnlyPaths MountImages
		ExtensionImages ExtensionDirectories User Group DynamicUser
		SupplementaryGroups PAMName CapabilityBoundingSet
		AmbientCapabilities NoNewPrivileges SecureBits SELinuxContext
		AppArmorProfile SmackProcessLabel LimitCPU LimitFSIZE LimitDATA
		LimitSTACK LimitCORE LimitRSS LimitNOFILE LimitAS LimitNPROC
		LimitMEMLOCK LimitLOCKS LimitSIGPENDING LimitMSGQUEUE LimitNICE
		LimitRTPRIO LimitRTTIME UMask CoredumpFilter KeyringMode
		OOMScoreAdjust TimerSlackNSec Personality IgnoreSIGPIPE Nice
		CPUSchedulingPolicy CPUSchedulingPriority CPUSchedulingResetOnFork
		CPUAffinity NUMAPolicy NUMAMask IOSchedulingClass
		IOSchedulingPriority ProtectSystem ProtectHome RuntimeDirectory
		StateDirectory CacheDirectory LogsDirectory ConfigurationDirectory
		RuntimeDirectoryMode StateDirectoryMode CacheDirectoryMode
		LogsDirectoryMode ConfigurationDirectoryMode RuntimeDirectoryPreserve
		TimeoutCleanSec ReadWritePaths ReadOnlyPaths InaccessiblePaths
		ExecPaths NoExecPaths TemporaryFileSystem PrivateTmp PrivateDevices
		PrivateNetwork NetworkNamespacePath PrivateIPC IPCNamespacePath
		PrivateUsers ProtectHostname ProtectClock
		ProtectKernelTunables ProtectKernelModules ProtectKernelLogs
		ProtectControlGroups RestrictAddressFamilies RestrictFileSystems
		RestrictNamespaces LockPersonality MemoryDenyWriteExecute
		RestrictRealtime RestrictSUIDSGID RemoveIPC PrivateMounts MountFlags
		SystemCallFilter SystemCallErrorNumber SystemCallArchitectures
		SystemCallLog Environment EnvironmentFile PassEnvironment
		UnsetEnvironment StandardInput StandardOutput StandardError
		StandardInputText StandardInputData LogLevelMax LogExtraFields
		LogRateLimitIntervalSec LogRateLimitBurst
		LogNamespace SyslogIdentifier SyslogFacility SyslogLevel
		SyslogLevelPrefix TTYPath TTYReset TTYVHangup TTYColumns TTYRows
		TTYVTDisallocate LoadCredential LoadCredentialEncrypted
		SetCredential SetCredentialEncrypted
		UtmpIdentifier UtmpMode` +
		// systemd.kill(5)
		`
		KillMode KillSignal RestartKillSignal SendSIGHUP SendSIGKILL
		FinalKillSignal WatchdogSignal` +
		// systemd.resource-control(5)
		`
		CPUAccounting CPUWeight StartupCPUWeight CPUQuota CPUQuotaPeriodSec
		AllowedCPUs StartupAllowedCPUs AllowedMemoryNodes
		StartupAllowedMemoryNodes MemoryAccounting MemoryMin MemoryLow
		MemoryHigh
		MemoryMax MemorySwapMax
		TasksAccounting TasksMax IOAccounting IOWeight StartupIOWeight
		IODeviceWeight IOReadBandwidthMax IOWriteBandwidthMax IOReadIOPSMax
		IOWriteIOPSMax IODeviceLatencyTargetSec IPAccounting IPAddressAllow
		IPAddressDeny SocketBindAllow SocketBindDeny RestrictNetworkInterfaces
		IPIngressFilterPath IPEgressFilterPath BPFProgram DeviceAllow
		DevicePolicy Slice Delegate DisableControllers
		ManagedOOMSwap ManagedOOMMemoryPressure
		ManagedOOMMemoryPressureLimit
		ManagedOOMPreference`)

	installDirectives = words(`		Alias WantedBy RequiredBy Also DefaultInstance`)

	// Directives whose value is a systemd boolean.
	boolDirectives = words(`
		DynamicUser NoNewPrivileges PrivateTmp PrivateDevices PrivateNetwork
		PrivateIPC PrivateMounts ProtectHostname ProtectClock
		ProtectKernelTunables ProtectKernelModules ProtectKernelLogs
		ProtectControlGroups RestrictRealtime RestrictSUIDSGID LockPersonality
		MemoryDenyWriteExecute RemoveIPC RemainAfterExit GuessMainPID
		DefaultDependencies RefuseManualStart RefuseManualStop AllowIsolate
		StopWhenUnneeded IgnoreSIGPIPE SendSIGHUP SendSIGKILL
		CPUAccounting MemoryAccounting TasksAccounting IOAccounting`)
)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// unitEntry is one "Key=Value" line of a unit file.
type unitEntry struct {
	line           int
	section        string
	key, value     string
	continuedLines int
}

func parseUnit(text string) ([]unitEntry, problems) {
	var ps problems
	var out []unitEntry
	section := ""
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				ps.addf("line %d: malformed section header %q", i+1, line)
				continue
			}
			section = line[1 : len(line)-1]
			continue
		}
		start := i
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			ps.addf("line %d: not Key=Value: %q", start+1, line)
			continue
		}
		if section == "" {
			ps.addf("line %d: %s outside any section", start+1, k)
		}
		out = append(out, unitEntry{line: start + 1, section: section, key: strings.TrimSpace(k), value: strings.TrimSpace(v), continuedLines: i - start})
	}
	return out, ps
}

// checkUnit checks every directive is a real one for its section, boolean
// values are booleans, and the service runs newswatch hardened.
func checkUnit(text string) problems {
	entries, ps := parseUnit(text)
	allowed := map[string]map[string]bool{"Unit": unitDirectives, "Service": serviceDirectives, "Install": installDirectives}
	vals := map[string][]string{}
	for _, e := range entries {
		names, ok := allowed[e.section]
		if !ok {
			ps.addf("line %d: unknown section [%s]", e.line, e.section)
			continue
		}
		if !names[e.key] {
			ps.addf("line %d: unknown directive %s= in [%s]", e.line, e.key, e.section)
		}
		if boolDirectives[e.key] {
			switch strings.ToLower(e.value) {
			case "1", "yes", "y", "true", "t", "on", "0", "no", "n", "false", "f", "off":
			default:
				ps.addf("line %d: %s=%s is not a boolean", e.line, e.key, e.value)
			}
		}
		vals[e.section+"."+e.key] = append(vals[e.section+"."+e.key], e.value)
	}
	last := func(k string) string {
		v := vals[k]
		if len(v) == 0 {
			return ""
		}
		return v[len(v)-1]
	}
	isTrue := func(v string) bool {
		switch strings.ToLower(v) {
		case "1", "yes", "y", "true", "t", "on":
			return true
		}
		return false
	}

	start := strings.Fields(last("Service.ExecStart"))
	if len(start) == 0 || !filepath.IsAbs(start[0]) || filepath.Base(start[0]) != "newswatch" {
		ps.addf("ExecStart=%s does not run an absolute path to newswatch", last("Service.ExecStart"))
	} else {
		cfg := runArgs(start[1:], &ps, "ExecStart")
		if cfg != "" && !strings.HasPrefix(cfg, "/etc/newswatch/") {
			ps.addf("ExecStart: config %s is outside ConfigurationDirectory /etc/newswatch", cfg)
		}
	}
	if !isTrue(last("Service.DynamicUser")) && last("Service.User") == "" {
		ps.addf("neither DynamicUser=yes nor User=: the service would run as root")
	}
	if u := last("Service.User"); u == "root" || u == "0" {
		ps.addf("User=%s runs the service as root", u)
	}
	if last("Service.StateDirectory") != "newswatch" {
		ps.addf("StateDirectory=%q, want newswatch (data_dir /var/lib/newswatch)", last("Service.StateDirectory"))
	}
	if last("Service.ProtectSystem") != "strict" {
		ps.addf("ProtectSystem=%q, want strict", last("Service.ProtectSystem"))
	}
	for _, k := range []string{"NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "RestrictSUIDSGID"} {
		if !isTrue(last("Service." + k)) {
			ps.addf("%s= is not enabled", k)
		}
	}
	if v := vals["Service.CapabilityBoundingSet"]; len(v) == 0 || v[len(v)-1] != "" {
		ps.addf("CapabilityBoundingSet= should be empty (no capabilities)")
	}
	if last("Install.WantedBy") == "" {
		ps.addf("no WantedBy= in [Install]: systemctl enable would do nothing")
	}
	return ps
}

func TestSystemdUnit(t *testing.T) {
	expectClean(t, checkUnit(readFile(t, "systemd/newswatch.service")))
}

func TestSystemdUnitChecksCanFail(t *testing.T) {
	text := readFile(t, "systemd/newswatch.service")
	cases := []struct{ name, old, new, want string }{
		{"unknown directive", "NoNewPrivileges=yes", "NoNewPrivileges=yes\nProtectEverything=yes", "unknown directive ProtectEverything="},
		{"directive in wrong section", "Description=", "ExecStart=/bin/true\nDescription=", "unknown directive ExecStart= in [Unit]"},
		{"unknown section", "[Install]", "[Instal]", "unknown section [Instal]"},
		{"not boolean", "NoNewPrivileges=yes", "NoNewPrivileges=sometimes", "not a boolean"},
		{"privileges allowed", "NoNewPrivileges=yes", "NoNewPrivileges=no", "NoNewPrivileges= is not enabled"},
		{"root", "DynamicUser=yes", "User=root", "runs the service as root"},
		{"protect full", "ProtectSystem=strict", "ProtectSystem=full", "want strict"},
		{"no state", "StateDirectory=newswatch\n", "", "StateDirectory="},
		{"wrong command", "newswatch run -config", "newswatch serve -config", "does not start with run"},
		{"capabilities", "CapabilityBoundingSet=\n", "CapabilityBoundingSet=CAP_NET_ADMIN\n", "CapabilityBoundingSet="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(text, c.old) {
				t.Fatalf("unit does not contain %q", c.old)
			}
			expectProblem(t, checkUnit(strings.Replace(text, c.old, c.new, 1)), c.want)
		})
	}
}

// systemdVerify runs systemd-analyze verify on a copy of the unit whose
// newswatch binary is replaced by an executable stub (verify insists that
// commands exist). It returns the tool's output and whether it passed.
func systemdVerify(t *testing.T, unit string) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	stub := filepath.Join(dir, "newswatch")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit = strings.ReplaceAll(unit, "/usr/local/bin/newswatch", stub)
	path := filepath.Join(dir, "newswatch.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemd-analyze", "verify", "--man=no", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
	out, err := cmd.CombinedOutput()
	text := string(out)
	ok := err == nil
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "newswatch.service") {
			ok = false // any remark about our unit: an unknown key, a bad value
		}
	}
	return text, ok
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	if _, err := os.Stat("/bin/kill"); err != nil {
		t.Skip("/bin/kill (used by ExecReload=) is absent here")
	}
	text := readFile(t, "systemd/newswatch.service")
	if out, ok := systemdVerify(t, text); !ok {
		t.Errorf("systemd-analyze verify rejects the unit:\n%s", out)
	}
	// The same run must notice a directive systemd does not know.
	bad := strings.Replace(text, "NoNewPrivileges=yes", "NoNewPrivileges=yes\nProtectEverything=yes", 1)
	if out, ok := systemdVerify(t, bad); ok {
		t.Errorf("systemd-analyze verify accepted an unknown directive:\n%s", out)
	}
}
