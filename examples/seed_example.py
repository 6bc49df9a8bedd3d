# The textbook listing: a 10-32-32-1 MLP on random data. Only the import lines differ from the Keras original.
import numpy as np

from fastann.layers import Dense
from fastann.models import Sequential

data = np.random.random((1000, 10))
Y = np.random.randint(2, size=(1000, 1))
model = Sequential()
model.add(Dense(32, input_dim=10, activation='relu'))
model.add(Dense(32, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
model.fit(data, Y, epochs=10, batch_size=32)
scores = model.evaluate(data, Y)
print(f"{model.metrics_names[1]}: {scores[1] * 100:.2f}%")
model.save("model.fastann")  # fastann.models.load_model("model.fastann") in Python, fastann::load_model in C++
