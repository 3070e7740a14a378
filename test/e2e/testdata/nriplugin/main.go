// Command nriplugin is a current-NRI plugin for the e2e tests, built on
// NRI's own pkg/stub. Started by stockade as a pre-installed plugin, it
// reads its configuration from what the runtime passes (its .conf file);
// run by hand as an external plugin, from -config. The configuration is
// JSON:
//
//	{"record": FILE, "adjust": true, "rlimit": true, "mount": DIR}
//
// PLUGIN below is the plugin's name without its index. record appends
// "PLUGIN EVENT CONTAINER [DETAIL]" lines to FILE for every event. adjust
// adds to every container the env NRI_PLUGIN=yes (the name in upper case)
// and the annotation nri.test/PLUGIN=yes; rlimit sets RLIMIT_NOFILE to
// 4242; mount bind-mounts DIR on /nri. Annotations of the container pick a
// misbehaviour: nri.test/reject=PLUGIN fails CreateContainer,
// nri.test/crash=PLUGIN exits the plugin in the middle of CreateContainer;
// nri.test/update=PLUGIN makes the plugin ask, at PostStartContainer, for
// the container's memory limit to become 96 MiB (an unsolicited update)
// and record the runtime's answer.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
)

type config struct {
	Record string `json:"record"`
	Adjust bool   `json:"adjust"`
	Rlimit bool   `json:"rlimit"`
	Mount  string `json:"mount"`
}

type plugin struct {
	stub stub.Stub
	name string
	mu   sync.Mutex
	cfg  config
}

func (p *plugin) record(event string, ctr *api.Container, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Record == "" {
		return
	}
	name := "-"
	if ctr != nil {
		name = ctr.Name
	}
	f, err := os.OpenFile(p.cfg.Record, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	line := p.name + " " + event + " " + name
	if detail != "" {
		line += " " + detail
	}
	fmt.Fprintln(f, line)
}

func (p *plugin) Configure(_ context.Context, cfg, runtime, version string) (api.EventMask, error) {
	if cfg != "" {
		p.mu.Lock()
		err := json.Unmarshal([]byte(cfg), &p.cfg)
		p.mu.Unlock()
		if err != nil {
			return 0, fmt.Errorf("bad configuration: %w", err)
		}
	}
	p.record("Configure", nil, runtime)
	return 0, nil // every event the plugin implements
}

func (p *plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	p.record("Synchronize", nil, fmt.Sprintf("pods=%d containers=%d", len(pods), len(ctrs)))
	return nil, nil
}

func (p *plugin) RunPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("RunPodSandbox", &api.Container{Name: pod.Name}, "")
	return nil
}

func (p *plugin) StopPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("StopPodSandbox", &api.Container{Name: pod.Name}, "")
	return nil
}

func (p *plugin) RemovePodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("RemovePodSandbox", &api.Container{Name: pod.Name}, "")
	return nil
}

func (p *plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.record("CreateContainer", ctr, "pod="+pod.Name)
	switch p.name {
	case ctr.Annotations["nri.test/reject"]:
		return nil, nil, errors.New("rejected by the test policy")
	case ctr.Annotations["nri.test/crash"]:
		os.Exit(3)
	}
	if !p.cfg.Adjust {
		return nil, nil, nil
	}
	adj := &api.ContainerAdjustment{}
	adj.AddEnv("NRI_"+strings.ToUpper(strings.ReplaceAll(p.name, "-", "_")), "yes")
	adj.AddAnnotation("nri.test/"+p.name, "yes")
	if p.cfg.Rlimit {
		adj.AddRlimit("RLIMIT_NOFILE", 4242, 4242)
	}
	if p.cfg.Mount != "" {
		adj.AddMount(&api.Mount{Destination: "/nri", Source: p.cfg.Mount, Type: "bind", Options: []string{"rbind", "rw"}})
	}
	return adj, nil, nil
}

func (p *plugin) StartContainer(_ context.Context, _ *api.PodSandbox, ctr *api.Container) error {
	p.record("StartContainer", ctr, fmt.Sprintf("pid=%t", ctr.Pid > 0))
	return nil
}

func (p *plugin) PostStartContainer(_ context.Context, _ *api.PodSandbox, ctr *api.Container) error {
	p.record("PostStartContainer", ctr, "")
	if ctr.Annotations["nri.test/update"] == p.name {
		u := &api.ContainerUpdate{}
		u.SetContainerId(ctr.Id)
		u.SetLinuxMemoryLimit(96 << 20)
		failed, err := p.stub.UpdateContainers([]*api.ContainerUpdate{u})
		p.record("UpdateContainers", ctr, fmt.Sprintf("failed=%d err=%v", len(failed), err))
	}
	return nil
}

func (p *plugin) StopContainer(_ context.Context, _ *api.PodSandbox, ctr *api.Container) ([]*api.ContainerUpdate, error) {
	p.record("StopContainer", ctr, fmt.Sprintf("exit=%d", ctr.ExitCode))
	return nil, nil
}

func (p *plugin) RemoveContainer(_ context.Context, _ *api.PodSandbox, ctr *api.Container) error {
	p.record("RemoveContainer", ctr, "")
	return nil
}

func main() {
	name := flag.String("name", "", "plugin name (external plugins)")
	idx := flag.String("idx", "", "plugin index (external plugins)")
	socket := flag.String("socket", "", "NRI socket (external plugins)")
	cfgFile := flag.String("config", "", "configuration file (external plugins)")
	flag.Parse()
	p := &plugin{name: os.Getenv("NRI_PLUGIN_NAME")}
	var opts []stub.Option
	if *name != "" {
		p.name = *name
		opts = append(opts, stub.WithPluginName(*name), stub.WithPluginIdx(*idx), stub.WithSocketPath(*socket))
	}
	if *cfgFile != "" {
		data, err := os.ReadFile(*cfgFile)
		if err == nil {
			err = json.Unmarshal(data, &p.cfg)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	s, err := stub.New(p, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p.stub = s
	if err := s.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
