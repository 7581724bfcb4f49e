module eprun.dev/tools/k8s/launcher

go 1.26
