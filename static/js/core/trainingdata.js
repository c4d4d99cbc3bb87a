// TEMPORARY stand-in for the training data reader (the real module replaces this file): webapp/training_data.py's
// uint8 safetensors file -> the training set as the page's trainer takes it.

import { readSafetensors } from "./safetensors.js";

export async function readTrainingData(arrayBuffer) {
  const { metadata, tensors } = readSafetensors(arrayBuffer);
  const t = (name) => tensors[name].data;
  return { images: t("images"), labels: t("labels"), n: t("labels").length, testImages: t("test_images"),
           testLabels: t("test_labels"), testN: t("test_labels").length, dataset: metadata.dataset,
           classNames: JSON.parse(metadata.class_names) };
}
