"""widescale: wide residual networks (SWideRNet, Wide-ResNet, ResNet-RS) on TPUs, GPUs and CPUs."""

import setuptools

setuptools.setup(
    name='widescale',
    version='0.1.0',
    description='Wide residual networks for panoptic/semantic segmentation and classification, TF2 + tf_keras.',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=setuptools.find_packages(include=['widescale', 'widescale.*']),
    python_requires='>=3.10,<3.14',
    # Ranges here; exact versions of everything (transitive too) are pinned in constraints.txt,
    # which `make` passes to pip so that a fresh install is reproducible.
    install_requires=[
        'tensorflow>=2.20,<2.22',
        'tf-keras>=2.20,<2.22',
        'tensorboard>=2.20,<2.22',
        'tensorflow-datasets==4.9.10',
        'gin-config==0.5.0',
        'absl-py>=2.1',
        'numpy>=1.26',
        'pillow>=10',
    ],
    extras_require={
        'coco': ['pycocotools>=2.0.8'],
        'dev': ['pytest>=8'],
    },
    entry_points={'console_scripts': [
        'widescale=widescale.main:run',
        'widescale-zoo=widescale.tools.model_zoo:run',
        'widescale-grid=widescale.tools.scaling_grid:run',
    ]},
)
